"""torchrun / DistributedDataParallel on CPU (gloo): 2 processes train what 1 does, only rank 0 writes, a killed rank
stops the job with one line and --resume under torchrun finishes it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from conftest import ROOT, free_port, tiny_config
from vae import distributed
from vae.data import DataBundle, Split, load_dataset
from vae.distributed import World
from vae.model import VAE
from vae.speed import FastPath
from vae.train import run_record, run_sentence, train

TORCHRUN = Path(sys.executable).with_name("torchrun")


# --- the pure helpers ---------------------------------------------------------------------------------------------

def test_world_from_torchrun_environment():
    assert distributed.from_env({}) == World(0, 1, 0) and not distributed.from_env({}).distributed
    w = distributed.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (w.rank, w.size, w.local_rank, w.is_main, w.distributed) == (3, 4, 1, False, True)


def test_shards_of_a_global_batch_cover_it_once():
    rows = torch.arange(29)
    shards = [distributed.shard(rows, World(r, 2)) for r in range(2)]
    assert [len(s) for s in shards] == [15, 14]
    assert sorted(torch.cat(shards).tolist()) == rows.tolist()
    assert distributed.share(["a", "b", "c", "d", "e"], World(1, 2)) == ["b", "d"]


def test_batches_too_small_to_share_are_refused_in_one_sentence():
    distributed.check_batches(4000, 32, World(0, 2))
    with pytest.raises(ValueError, match="cannot be shared among 4 processes"):
        distributed.check_batches(4001, 32, World(0, 4))  # a last batch of 1 image


def test_the_run_says_device_precision_and_world_size():
    cpu = FastPath(torch.device("cpu"), "fp32-cl")
    assert run_sentence(cpu, World(), 32) == "training with fp32, channels_last on cpu, 1 process, batch 32"
    two = run_sentence(cpu, World(0, 2), 32)
    assert "2 processes" in two and "gloo" in two and "global batch 32 (16 per process)" in two


# --- 2 processes against 1 ----------------------------------------------------------------------------------------

def small_data(n_train: int) -> DataBundle:
    full = load_dataset("mnist-5k")
    return DataBundle("mnist-5k", Split(full.train.images[:n_train], full.train.labels[:n_train]),
                      Split(full.test.images[:64], full.test.labels[:64]), full.classes)


def _forbid_writes() -> None:
    """In ranks other than 0: any checkpoint, metrics or judge write fails the run."""
    import vae.train as t

    def refuse(*args, **kwargs):
        raise AssertionError("a rank other than 0 tried to write")

    for name in ("save_train_state", "atomic_write_json", "load_or_train_judge"):
        setattr(t, name, refuse)
    VAE.save_pretrained = refuse


def _rank(rank: int, size: int, port: int, out: str, config_kwargs: dict, n_train: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    if rank != 0:
        _forbid_writes()
    world = distributed.from_env()
    with distributed.process_group(world, torch.device("cpu")):
        train(tiny_config(**config_kwargs), out, device="cpu", progress=False, data=small_data(n_train), log=lambda s: None, world=world)


@pytest.mark.slow
def test_two_gloo_processes_train_what_one_does(tmp_path):
    """One global batch of 31 digits (shards of 16 and 15), warped and noised as in one process, BatchNorm over the
    global batch: the weights match up to Adam's first step on gradients that are zero but for rounding.

    Tolerance, and why: Adam's first update is lr * g / (|g| + 1e-8), +-lr for any |g| above 1e-8, so a weight whose
    true gradient is ~0 moves by +-lr on the sign of its rounding noise; splitting the batch sums in another order and
    flips a few such signs (measured: about 250 of 4.2 M weights; 1 vs 2 threads in one process flips some too). So:
    no weight differs by more than 2 lr, fewer than 0.1% by more than 1e-4, losses and BatchNorm statistics within 1e-4.
    Per-rank BatchNorm (plain DDP on CPU) fails this: a third of the weights differ, and the loss of the first batch."""
    kwargs, n_train = dict(augment=True), 31
    torch.set_num_threads(1)
    one = train(tiny_config(**kwargs), tmp_path / "one", device="cpu", progress=False, data=small_data(n_train), log=lambda s: None)
    mp.spawn(_rank, args=(2, free_port(), str(tmp_path / "two"), kwargs, n_train), nprocs=2)
    torch.set_num_threads(2)

    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    lr = tiny_config().lr
    weights = [k for k in a if "running_" not in k and "num_batches" not in k]
    diff = torch.cat([(a[k].float() - b[k].float()).abs().flatten() for k in weights])
    print(f"1 vs 2 processes: max abs weight difference {diff.max():.3g}, {int((diff > 1e-4).sum())} of {diff.numel()} beyond 1e-4")
    assert diff.max() <= 2 * lr * 1.001
    assert (diff > 1e-4).float().mean() < 1e-3
    for k in a.keys() - set(weights):  # BatchNorm's running statistics: the global batch's on every rank
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-4), k

    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two"))
    assert ma.keys() == mb.keys() and ma["final"].keys() == mb["final"].keys() and ma["status"] == mb["status"] == "complete"
    for key in ("train_loss", "train_recon", "train_kl"):  # the same batch, the same forward: losses agree closely
        assert mb["history"][0][key] == pytest.approx(ma["history"][0][key], rel=1e-5, abs=1e-4), key
    for key in ("recon", "mse", "kl", "mean_abs_mu"):
        assert mb["final"][key] == pytest.approx(ma["final"][key], rel=1e-3, abs=1e-4), key
    loaded = VAE.from_pretrained(tmp_path / "two")
    assert torch.equal(loaded.state_dict()["decoder.fc.weight"], b["decoder.fc.weight"])
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["config.json", "metrics.json", "model.safetensors", "train_state.safetensors"]
    assert not one.training


# --- a killed rank, then --resume under torchrun ------------------------------------------------------------------

def write_idx_folder(folder: Path, n_train: int, n_test: int) -> Path:
    """The first digits of mnist-5k as MNIST's four IDX files, as a person would place them for --data-dir."""
    data = load_dataset("mnist-5k")
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, split, n in (("train", data.train, n_train), ("t10k", data.test, n_test)):
        images = (split.images[:n, 0] * 255).round().to(torch.uint8).numpy()
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x0803, n, 28, 28) + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, n) + split.labels[:n].to(torch.uint8).numpy().tobytes())
    return folder


def torchrun(*args: str, **kwargs) -> subprocess.Popen:
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "vae", "train", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"}, **kwargs)


def rank_pid(launcher_pid: int, rank: int) -> int | None:
    """The pid of torchrun's worker with RANK=rank (read from /proc: the test kills it as the kernel would)."""
    for child in Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split():
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(child)
    return None


def epochs_done(out: Path) -> int:
    try:
        return json.loads((out / "metrics.json").read_text()).get("epochs_done", 0)
    except (OSError, ValueError):
        return 0


@pytest.mark.skipif(not TORCHRUN.exists() or not Path("/proc").exists(), reason="needs torchrun and Linux /proc")
@pytest.mark.slow
def test_a_killed_rank_stops_the_job_in_one_line_and_resume_under_torchrun_finishes(tmp_path):
    data_dir = write_idx_folder(tmp_path / "idx", n_train=160, n_test=32)
    out = tmp_path / "run"
    args = ("--preset", "healthy-2d", "--epochs", "2", "--batch-size", "32", "--dataset", "mnist", "--data-dir", str(data_dir),
            "--out", str(out), "--device", "cpu")
    job = torchrun(*args)
    try:
        deadline = time.monotonic() + 240
        while epochs_done(out) < 1 and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = rank_pid(job.pid, 1)
        assert victim is not None and epochs_done(out) == 1, "the job should be in its second epoch"
        os.kill(victim, signal.SIGKILL)  # mid-epoch 2
        _, stderr = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    ours = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(ours) == 1, stderr[-3000:]  # the surviving rank's one line (torchrun adds its own failure report)
    assert "rank 0" in ours[0] and "epoch 1 is saved" in ours[0] and "--resume" in ours[0]
    assert not list(out.glob(".*.tmp"))  # no half-written file
    assert VAE.from_pretrained(out).config.latent_dim == 2

    resumed = torchrun(*args, "--resume")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert "resuming after epoch 1 of 2" in stdout
    assert run_record(out)["fast_path_used"]  # the precision it started with, kept
    shutil.rmtree(tmp_path / "idx")
