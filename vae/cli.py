"""Command line: `python -m vae train|evaluate|sample|report|gaps|likelihood|sweep|data-curve`. Errors are one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from .config import PRESETS, SAMPLERS, get_preset, model_names, preset_config, preset_of, with_settings
from .data_curve import DEFAULT_DIR as DATA_CURVE_DIR, SIZES


class UsageError(Exception):
    """Bad input from the person at the keyboard: printed as one line, exit code 2."""


def _cmd_train(args) -> int:
    from . import distributed
    from .cache import checkpoint_state, finishing_tasks
    from .workers import Task

    world = distributed.from_env()
    if args.all:
        if world.distributed:
            raise UsageError("--all trains presets side by side in worker processes; under torchrun train one --preset at a time")
        if args.out or args.epochs or args.dataset or args.resume or args.batch_size or args.data_dir or args.set:
            raise UsageError("--all trains every preset into checkpoints/ with its own settings; it takes no --out, --epochs, --dataset, "
                             "--batch-size, --data-dir, --set or --resume")
        tasks = []
        for name in model_names():  # the presets first, then the view models
            directory = Path("checkpoints") / name
            state, reason = checkpoint_state(directory, name)
            if state == "ready":
                print(f"{reason}, skipping")
                continue
            if state == "train" and directory.exists():
                raise UsageError(f"{reason}; move {directory} away or train it with --preset {name} --out DIR")
            tasks.append(Task(name, preset_config(name), directory, state, reason))
        tasks += finishing_tasks(model_names(), "checkpoints", {t.name for t in tasks})  # after the models they belong to
        return _train_in_workers(tasks, args.jobs, args.device)
    if not args.preset:
        raise UsageError("say which model to train: --preset NAME or --all")
    config = preset_config(args.preset)
    if args.epochs is not None:
        if args.epochs < 1:
            raise UsageError("--epochs must be at least 1")
        config = dataclasses.replace(config, epochs=args.epochs)
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        config = dataclasses.replace(config, batch_size=args.batch_size)
    if args.dataset:
        config = dataclasses.replace(config, dataset=args.dataset)
    config = with_settings(config, args.set)
    out = Path(args.out or Path("checkpoints") / args.preset)
    if not args.resume:
        refuse_to_overwrite(out)
    return _train_one(config, out, args, world)


def _train_one(config, out: Path, args, world) -> int:
    """Train one preset, under torchrun in its process group; a stop says exactly which epochs are on disk."""
    from . import distributed
    from .train import resolve_device, train

    device = distributed.device_for(world, resolve_device(args.device))
    try:
        with distributed.process_group(world, device):
            train(config, out, device=str(device), resume=args.resume, name=args.preset, world=world, data_dir=args.data_dir or "data")
    except KeyboardInterrupt:
        if world.is_main:
            print(f"interrupted; {saved_sentence(out)}", file=sys.stderr)
        return 130
    except distributed.JobStopped as err:
        print(f"error: training stopped on rank {world.rank}: {err}; {saved_sentence(out, torchrun=True)}", file=sys.stderr)
        return 1
    if world.is_main:
        print(f"saved {out}")
    return 0


def saved_sentence(out: Path, torchrun: bool = False) -> str:
    """What a stopped run left in `out`, said exactly: nothing yet, or epochs 1..k (and how to continue)."""
    from .train import saved_epoch

    try:
        k = saved_epoch(out) if (out / "model.safetensors").exists() else 0
    except Exception:  # a damaged file: say what is certain
        k = 0
    if k == 0:
        return f"nothing is saved yet in {out} (the first epoch had not finished)"
    again = "rerun the same torchrun command with --resume" if torchrun else "continue it with --resume"
    return f"{'epoch 1 is' if k == 1 else f'epochs 1..{k} are'} saved in {out}; {again}"


def refuse_to_overwrite(out: Path) -> None:
    """A folder that already holds a trained model is never trained over without --resume (no data loss)."""
    from .model import read_config
    from .train import saved_epoch

    if not (out / "model.safetensors").exists():
        return
    try:
        name = preset_of(read_config(out))
        what = f"{f'the {name} preset' if name else 'a model'}, {saved_epoch(out)} epoch(s)"
    except Exception:  # unreadable: still someone's files
        what = "a model"
    raise UsageError(f"{out} already holds {what}; nothing was changed. Continue it with --resume, "
                     "or train into a new --out folder (or move this one away first)")


def evaluate_checkpoint(directory: Path, iw_samples: int, device: str = "auto", data_dir: str = "data", progress: bool = False,
                        second_stage: bool = True) -> dict:
    """A checkpoint's metrics on the held-out split, judged, with its preset's checks when it is one; without
    `second_stage`, no figure through the second VAE (fitting one, for a folder that has none, takes minutes)."""
    from .analysis import check_preset, compute_metrics, train_latents_for
    from .data import load_dataset
    from .judge import load_or_train_judge
    from .model import VAE, to_channels_last
    from .train import resolve_device
    from .two_stage import sampler_quality

    if iw_samples < 0:
        raise UsageError("--iw-samples must be 0 or more")
    if not directory.exists():
        raise UsageError(f"{directory} does not exist")
    model = VAE.from_pretrained(directory, device=resolve_device(device))
    model = to_channels_last(model)  # decodes 1.7-2.4x faster than NCHW on CPU; the IW estimate is all decodes
    data = load_dataset(model.config.dataset, data_dir)
    judge = load_or_train_judge(data, directory.resolve().parent, log=lambda m: print(m, file=sys.stderr))
    metrics = compute_metrics(model, data, iw_samples=iw_samples, judge=judge, progress=progress)
    # the other two samplers (vae/two_stage.py): the second VAE is read from the folder, or fitted (a few minutes) and saved there
    train = train_latents_for(model, directory, data.train)
    metrics.update(sampler_quality(model, judge, train, directory, ("mixture", "two-stage") if second_stage else ("mixture",),
                                   log=lambda m: print(m, file=sys.stderr) if progress else None))
    name = preset_of(model.config)
    if name is not None:
        metrics["preset"] = name
        metrics["checks"] = check_preset(get_preset(name).checks, metrics, sibling=lambda other: _final_metrics(directory.parent / other))
    return metrics


def _final_metrics(directory: Path) -> dict | None:
    """metrics.json's final figures of a trained checkpoint beside this one, or None."""
    from .store import CheckpointError, read_json

    try:
        return read_json(directory / "metrics.json").get("final")
    except CheckpointError:
        return None


def _train_in_workers(tasks: list, jobs: int | None, device: str) -> int:
    """Train the tasks side by side in worker processes (vae/workers.py), one progress bar each; 1 if any failed."""
    from tqdm.auto import tqdm

    from .workers import JUDGE, SECOND_STAGE, plan_jobs, run_tasks

    if not tasks:
        return 0
    jobs = jobs or plan_jobs(len(tasks))[0]
    bars = {t.name: tqdm(total=1 if t.state in (SECOND_STAGE, JUDGE) else t.config.epochs, desc=f"{t.name} (queued)", unit="epoch", position=i, leave=True,
                         dynamic_ncols=True) for i, t in enumerate(tasks)}
    failed = []

    def on_event(e) -> None:
        bar = bars[e.name]
        if e.kind == "progress":
            p = e.data
            bar.n = p["epoch"] - 1 + p["batch"] / p["batches"]
            bar.set_description(f"{e.name} epoch {p['epoch']}/{p['epochs']}", refresh=False)
            bar.set_postfix(loss=f"{p['loss']:.1f}", recon=f"{p['recon']:.1f}", kl=f"{p['kl']:.2f}")
        elif e.kind == "epoch":
            r = e.data
            tqdm.write(f"{e.name} epoch {r['epoch']}: val loss {r['val_loss']:.1f} (recon {r['val_recon']:.1f}, kl {r['val_kl']:.2f}) in {r['seconds']:.1f}s")
        elif e.kind == "log":
            tqdm.write(f"{e.name}: {e.data}" if not str(e.data).startswith(e.name) else str(e.data))
        elif e.kind == "done":
            bar.n = bar.total
            bar.set_description(f"{e.name} done")
            bar.close()
        elif e.kind == "failed":
            failed.append(f"{e.name}: {e.data}")
            bar.set_description(f"{e.name} FAILED")
            bar.close()

    print(f"training {', '.join(t.name for t in tasks)} in {min(jobs, len(tasks))} worker process(es) side by side", flush=True)
    run_tasks(tasks, on_event, jobs=jobs, device=device)
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_evaluate(args) -> int:
    metrics = evaluate_checkpoint(Path(args.dir), args.iw_samples, args.device, args.data_dir or "data", progress=True,
                                  second_stage=not args.no_second_stage)
    print(json.dumps(metrics, indent=2))
    return 0


MAX_SAMPLES = 100_000


def _cmd_sample(args) -> int:
    """N decoded samples of a checkpoint, seeded, as .npy (N x 28 x 28 floats in [0, 1]) or a .png grid, for anyone to
    judge with their own classifier."""
    from .analysis import decode_latents, train_latents_for
    from .data import load_dataset
    from .model import VAE
    from .two_stage import sample_codes

    directory, out = Path(args.dir), Path(args.out)
    if not 1 <= args.n <= MAX_SAMPLES:
        raise UsageError(f"--n must be between 1 and {MAX_SAMPLES:,}")
    if out.suffix not in (".npy", ".png"):
        raise UsageError(f"--out must end in .npy (the images as an array) or .png (a grid), got {out.name!r}")
    if not directory.exists():
        raise UsageError(f"{directory} does not exist")
    model = VAE.from_pretrained(directory).eval().requires_grad_(False)
    data = load_dataset(model.config.dataset, args.data_dir or "data")
    train = train_latents_for(model, directory, data.train)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    images = decode_latents(model, sample_codes(args.sampler, args.n, args.seed, train, directory, log))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, images.astype(np.float32))
    else:
        image_grid(images).save(out)
    print(f"wrote {len(images)} samples of {directory} ({args.sampler}, seed {args.seed}) to {out}")
    return 0


def image_grid(images: np.ndarray, columns: int = 10, gap: int = 2):
    """(N, 28, 28) in [0, 1] as one PIL picture, white on black, `columns` a row with grey gaps."""
    from PIL import Image

    rows = -(-len(images) // columns)
    cols = min(columns, len(images))
    grid = np.full((rows * (28 + gap) + gap, cols * (28 + gap) + gap), 60, np.uint8)
    for i, image in enumerate(images):
        y, x = (gap + k * (28 + gap) for k in divmod(i, columns))
        grid[y : y + 28, x : x + 28] = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(grid)


REPORT_BEGIN, REPORT_END = "<!-- presets-table: python -m vae report -->", "<!-- /presets-table -->"


def git_commit() -> tuple[str, bool]:
    """(short hash of the checked-out commit, whether tracked files differ from it); ("", False) outside git."""
    import subprocess

    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "", False
    return commit, bool(dirty)


def provenance(command: str) -> str:
    """'`command` on DATE, commit HASH, CPU': the line every table of measured figures carries."""
    import datetime
    import os

    import torch

    from .speed import machine_key

    commit, dirty = git_commit()
    cpu = machine_key(PRESETS["healthy"].config, torch.device("cpu")).split("|")[1]
    return (f"`{command}` on {datetime.date.today()}, commit {commit or 'unknown'}{' (with uncommitted changes)' if dirty else ''}, "
            f"{cpu}, {os.cpu_count()} cores")


def preset_table(rows: dict[str, dict], configs: dict[str, dict]) -> str:
    """The README's preset table from evaluated metrics (one row per preset)."""
    from .analysis import check_preset

    def fmt(v, spec):
        return "" if v is None else format(v, spec)

    lines = ["| preset | config | epochs | train time | KL | MSE/pixel | 5-NN acc | active units | prior samples that are digits | "
             "classes covered | through a second VAE: digits | classes covered | reconstructions keep the digit | IS | FID | IW-NLL | checks |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in rows.items():
        c = configs[name]
        config = f"D={c['latent_dim']}, beta={c['beta']:g}, sigma={c['sigma']:g}"
        checks = check_preset(PRESETS[name].checks, m, sibling=rows.get)
        failed = [k for k, v in checks.items() if not v["ok"]]
        verdict = "all met" if not failed else "NOT met: " + ", ".join(f"{k} {fmt(checks[k]['value'], '.3g')} (want {checks[k]['want']})" for k in failed)
        lines.append(f"| {name} | {config} | {c['epochs']} | {fmt(m.get('train_seconds'), '.0f')} s | {fmt(m['kl'], '.3g')} | {fmt(m['mse'], '.4f')} | "
                     f"{fmt(m['knn_acc'], '.3f')} | {m['active_units']} | {fmt(m.get('sample_valid'), '.3f')} | {fmt(m.get('sample_coverage'), '.3f')} | "
                     f"{fmt(m.get('sample_valid_two_stage'), '.3f')} | {fmt(m.get('sample_coverage_two_stage'), '.3f')} | {fmt(m.get('recon_keeps_digit'), '.3f')} | {fmt(m.get('sample_inception_score'), '.2f')} | {fmt(m.get('sample_fid'), '.0f')} | "
                     f"{fmt(m.get('nll'), '.1f')} | {verdict} |")
    return "\n".join(lines)


def _cmd_report(args) -> int:
    """Evaluate every preset in --checkpoints and print (or write into README.md) the preset table."""
    from .store import read_json

    root = Path(args.checkpoints)
    rows, configs = {}, {}
    for name in PRESETS:
        directory = root / name
        if not (directory / "model.safetensors").exists():
            print(f"{directory} has no trained model; skipping it (python -m vae train --all trains it)", file=sys.stderr)
            continue
        print(f"evaluating {name} ...", file=sys.stderr, flush=True)
        rows[name] = evaluate_checkpoint(directory, args.iw_samples, args.device)
        rows[name]["train_seconds"] = read_json(directory / "metrics.json").get("train_seconds")
        configs[name] = read_json(directory / "config.json")
    if not rows:
        raise UsageError(f"no trained presets in {root}; run python -m vae train --all first")
    command = f"python -m vae report --iw-samples {args.iw_samples}" + (f" --checkpoints {args.checkpoints}" if args.checkpoints != "checkpoints" else "")
    block = f"{REPORT_BEGIN}\n{provenance(command)}:\n\n{preset_table(rows, configs)}\n{REPORT_END}"
    if args.readme:
        readme = Path(args.readme)
        text = readme.read_text()
        if REPORT_BEGIN not in text or REPORT_END not in text:
            raise UsageError(f"{readme} has no {REPORT_BEGIN} ... {REPORT_END} block to replace")
        head, rest = text.split(REPORT_BEGIN, 1)
        readme.write_text(head + block + rest.split(REPORT_END, 1)[1])
        print(f"wrote the preset table into {readme}", file=sys.stderr)
    print(block)
    return 0


GAPS_BEGIN, GAPS_END = "<!-- gaps-table: python -m vae gaps -->", "<!-- /gaps-table -->"


def gap_rows(checkpoints: Path, names: list[str], pairs: int, steps: int, seed: int) -> dict[str, dict]:
    """For each preset: the straight lines between the codes of `pairs` seeded pairs of different held-out digits
    (analysis.different_digit_pairs), and how far their points lie from the nearest training code, in the model's
    own units and over its typical distance (analysis.typical_gap). The same measure the Interpolate tab shows."""
    import numpy as np

    from .analysis import different_digit_pairs, latents_for, line_between, nearest, train_latents_for, typical_gap
    from .data import load_dataset
    from .model import VAE

    data = load_dataset("mnist-5k")
    index = different_digit_pairs(data.test.labels.numpy(), pairs, seed)
    rows = {}
    for name in names:
        directory = checkpoints / name
        if not (directory / "model.safetensors").exists():
            raise UsageError(f"{directory} has no trained model; run python -m vae train --preset {name} first")
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        model = VAE.from_pretrained(directory).eval().requires_grad_(False)
        test_mu = latents_for(model, directory, data.test).mu
        train_mu = train_latents_for(model, directory, data.train).mu
        typical = typical_gap(test_mu, train_mu)
        lines = np.stack([line_between(test_mu[a], test_mu[b], steps) for a, b in index])  # (pairs, steps, D)
        dist = nearest(lines.reshape(-1, test_mu.shape[1]), train_mu)[0][:, 0].reshape(len(index), steps)
        mid = dist[:, steps // 2]
        rows[name] = {"typical": typical, "mid_mean": float(mid.mean()), "mid_median": float(np.median(mid)),
                      "mid_ratio": float(mid.mean() / typical), "max_ratio": float(dist.max(1).mean() / typical),
                      "ends_ratio": float(dist[:, [0, -1]].mean() / typical)}
    return rows


def gaps_table(rows: dict[str, dict], pairs: int, steps: int) -> str:
    lines = [f"Straight lines between the codes (mu) of {pairs} seeded pairs of different held-out digits, {steps} steps each; "
             "distance of a point to the nearest of the 4,000 training codes, in the model's own units and over its typical distance "
             "(the median distance of a held-out digit's code to its nearest training code).", "",
             "| preset | typical distance | midpoint: mean distance | midpoint: median | midpoint / typical | farthest point / typical | ends / typical |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['typical']:.3g} | {r['mid_mean']:.3g} | {r['mid_median']:.3g} | {r['mid_ratio']:.2f} | {r['max_ratio']:.2f} | {r['ends_ratio']:.2f} |")
    return "\n".join(lines)


def replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Write `block` (which starts with `begin` and ends with `end`) into `path` in place of its old one, or at its end."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def _cmd_gaps(args) -> int:
    """Print (or write into a results file) how far interpolations run from the training codes, per preset."""
    unknown = [n for n in args.presets if n not in PRESETS]
    if unknown:
        raise UsageError(f"no preset called {', '.join(unknown)}; choose among {', '.join(PRESETS)}")
    if args.pairs < 1 or args.steps < 3 or args.steps % 2 == 0:
        raise UsageError("--pairs must be at least 1 and --steps an odd number of at least 3 (its middle point is the midpoint)")
    rows = gap_rows(Path(args.checkpoints), args.presets, args.pairs, args.steps, args.seed)
    command = f"python -m vae gaps --pairs {args.pairs} --steps {args.steps} --seed {args.seed} --presets {','.join(args.presets)}"
    block = f"{GAPS_BEGIN}\n## interpolation gaps\n\n{provenance(command)}:\n\n{gaps_table(rows, args.pairs, args.steps)}\n{GAPS_END}"
    if args.results:
        replace_block(Path(args.results), GAPS_BEGIN, GAPS_END, block)
        print(f"wrote the gaps table into {args.results}", file=sys.stderr)
    print(block)
    return 0


LIKELIHOOD_BEGIN, LIKELIHOOD_END = "<!-- likelihood-table: python -m vae likelihood -->", "<!-- /likelihood-table -->"


def likelihood_block(checkpoints: Path, command: str) -> str:
    """Blur (L2 against L1) and the variance cheat, measured on the held-out digits from the trained models in
    `checkpoints`, as the block the Likelihood tab's figures come from: its command, date and commit, two sentences,
    two tables."""
    from . import likelihoods as L
    from .analysis import latents_for
    from .data import load_dataset
    from .model import VAE

    data = load_dataset("mnist-5k")
    never = L.never_inked(data.train.images)
    measured = {}
    for name in L.MODELS:
        directory = checkpoints / name
        if not (directory / "model.safetensors").exists():
            raise UsageError(f"{directory} has no trained model; run python -m vae train --preset {name} (or train --all) first")
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        model = VAE.from_pretrained(directory).eval().requires_grad_(False)
        lat = latents_for(model, directory, data.test)
        measured[name] = L.measure(model, lat.mu, float(lat.kl_per_dim.sum()), data.test, never)

    def table(headers, rows):
        return "\n".join(["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + ["| " + " | ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in r) + " |" for r in rows])

    return (f"{LIKELIHOOD_BEGIN}\n{provenance(command)}:\n\n{L.blur_sentence(measured)}\n\n{table(L.BLUR_HEADERS, L.blur_rows(measured))}\n\n"
            f"{L.cheat_sentence(measured)}\n\n{table(L.SIGMA_HEADERS, L.sigma_rows(measured))}\n{LIKELIHOOD_END}")


def _cmd_likelihood(args) -> int:
    """Print (or write into the README and a results file) the Likelihood tab's figures over the held-out digits."""
    command = "python -m vae likelihood" + (f" --checkpoints {args.checkpoints}" if args.checkpoints != "checkpoints" else "")
    block = likelihood_block(Path(args.checkpoints), command)
    for target in (args.readme, args.results):
        if target:
            replace_block(Path(target), LIKELIHOOD_BEGIN, LIKELIHOOD_END, block)
            print(f"wrote the likelihood figures into {target}", file=sys.stderr)
    print(block)
    return 0


def _cmd_sweep(args) -> int:
    """Train one short run per beta and print a table of kl, mse, active units, knn_acc and the judged samples.

    Under torchrun the betas are shared out over the processes (one configuration per rank at a time, each on its own
    GPU when there are GPUs); rank 0 waits for all of them and prints the table."""
    import torch

    from . import distributed
    from .config import VAEConfig
    from .store import read_json
    from .train import resolve_device, train

    world = distributed.from_env()
    device = distributed.device_for(world, resolve_device(args.device))
    keys = ("kl", "mse", "active_units", "knn_acc", "mean_abs_mu", "sample_valid", "sample_coverage", "recon_keeps_digit")

    def run_dir(beta: float) -> Path:
        return Path(args.out) / f"beta{beta:g}-sigma{args.sigma:g}-d{args.latent_dim}"

    def config_for(beta: float) -> VAEConfig:
        return with_settings(VAEConfig(beta=beta, sigma=args.sigma, latent_dim=args.latent_dim, epochs=args.epochs), args.set)

    config_for(args.betas[0])  # a --set that cannot be used is refused before any run starts

    if world.distributed and world.is_main:
        print(f"sweeping {len(args.betas)} betas over {world.size} processes", flush=True)
    # Only a barrier crosses processes here, so gloo serves on GPUs too; runs can be long, hence the long timeout.
    with distributed.process_group(world, torch.device("cpu"), timeout_s=7 * 24 * 3600):
        for beta in distributed.share(args.betas, world):
            out = run_dir(beta)
            train(config_for(beta), out, device=str(device), resume=True, name=out.name, progress=False,
                  log=print if world.is_main else (lambda m: None), data_dir=args.data_dir or "data")
            if not world.distributed:
                print(json.dumps(sweep_row(beta, config_for(beta), read_json(out / "metrics.json")["final"], keys)), flush=True)
        distributed.barrier(world)
    if not world.is_main:
        return 0
    rows = [sweep_row(beta, config_for(beta), read_json(run_dir(beta) / "metrics.json")["final"], keys) for beta in args.betas]
    command = (f"python -m vae sweep --betas {','.join(f'{b:g}' for b in args.betas)} --sigma {args.sigma:g} "
               f"--latent-dim {args.latent_dim} --epochs {args.epochs}" + "".join(f" --set {item}" for item in args.set))
    print(f"\n{provenance(command)}{f' ({world.size} processes)' if world.distributed else ''}:\n")
    print("| beta | sigma | beta_eff | KL (nats) | MSE/pixel | active units | 5-NN acc | mean abs mu | prior samples that are digits | classes covered | reconstructions keep the digit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['beta']:g} | {r['sigma']:g} | {r['beta_eff']:.3g} | {r['kl']:.3g} | {r['mse']:.4f} | {r['active_units']} | {r['knn_acc']:.3f} | "
              f"{r['mean_abs_mu']:.2f} | {r['sample_valid']:.3f} | {r['sample_coverage']:.3f} | {r['recon_keeps_digit']:.3f} |")
    return 0


def _cmd_data_curve(args) -> int:
    """Train the healthy recipe on each size (and again with augmentation), then print and save the curve's table."""
    from . import data_curve as dc
    from .data import load_dataset
    from .judge import share_judge
    from .store import read_json
    from .train import train
    from .two_stage import finish_cached, judged_before

    data = load_dataset("mnist-5k", args.data_dir or "data")
    full = len(data.train)
    lines = (False, True) if args.augment else (False,)
    try:
        configs = {(n, a): with_settings(dc.curve_config(n, a, full), args.set) for a in lines for n in args.sizes}
    except ValueError as err:
        raise UsageError(str(err)) from None
    command = (f"python -m vae data-curve --sizes {','.join(map(str, args.sizes))}" + ("" if args.augment else " --no-augment")
               + "".join(f" --set {item}" for item in args.set))
    said = provenance(command)  # the commit that trains the runs, taken before they start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    share_judge(args.checkpoints, out, data.name)
    rows = []
    for (n, augment), config in configs.items():
        run = out / dc.run_name(n, augment)
        model = train(config, run, device=args.device, resume=True, progress=False, data=data, iw_samples=0)
        if judged_before(run):  # trained before the judge's rule changed: its figures again, not its training
            finish_cached(run, data, second_stage=False)
        rows.append(dc.curve_row(model, data, config, read_json(run / "metrics.json")["final"]))
        print(json.dumps(rows[-1]), flush=True)
    dc.save_curve(out, rows, said)
    print(f"\n{said}:\n\n{dc.curve_table(rows)}")
    return 0


def _cmd_publish(args) -> int:
    """Upload checkpoint folders (or every preset of --presets-root) to a Hub repo with a model card; --out only writes
    the folder that would be uploaded."""
    import tempfile

    from .hub import is_repo_id, release_folders, upload, write_release

    if not is_repo_id(args.repo):
        raise UsageError(f"--repo takes a Hugging Face repo id, owner/name; got {args.repo!r}")
    if bool(args.dirs) == bool(args.presets_root):
        raise UsageError("publish takes checkpoint folders or --presets-root DIR, one of the two")
    dirs = [Path(d) for d in args.dirs]
    root = Path(args.presets_root) if args.presets_root else None
    command = "python -m vae publish " + " ".join([*args.dirs, *(["--presets-root", args.presets_root] if root else []), "--repo", args.repo])
    folders = release_folders(dirs, root)
    with tempfile.TemporaryDirectory(prefix="vae-publish-") as tmp:
        out = write_release(folders, Path(args.out or tmp), args.repo, command, extras_root=root)
        if args.out:
            print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} into {out}; nothing uploaded")
            return 0
        url = upload(out, args.repo, args.revision, private=args.private)
    print(f"published {', '.join(k or args.repo for k in folders)} to {args.repo}: {url}")
    return 0


def sweep_row(beta: float, config, final: dict, keys: tuple) -> dict:
    return {"beta": beta, "sigma": config.sigma, "beta_eff": config.beta_eff, **{k: final.get(k) for k in keys}}


def sizes_list(text: str) -> list[int]:
    """--sizes: whole numbers joined by commas (argparse turns a ValueError here into one line naming the option)."""
    return [int(v) for v in text.split(",")]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit code 2) instead of the whole usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m vae", description="Train and evaluate the VAE Playground models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    t = sub.add_parser("train", help="train a preset (or every missing one) and save it after each epoch")
    t.add_argument("--preset", choices=list(model_names()), help="which preset (or view model) to train")
    t.add_argument("--all", action="store_true", help="train every preset missing from checkpoints/, then the view models, then fit the second VAEs (vae/two_stage.py)")
    t.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    t.add_argument("--dataset", choices=["mnist-5k", "mnist", "fashion-mnist"], help="data set (default mnist-5k, works offline)")
    t.add_argument("--out", help="checkpoint folder (default checkpoints/PRESET)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    t.add_argument("--resume", action="store_true", help="continue from the last epoch saved in the folder")
    t.add_argument("--jobs", type=int, help="with --all: presets trained side by side, one process each (default: one per core)")
    t.add_argument("--batch-size", type=int, help="images per optimisation step (default: the preset's); under torchrun the global batch, shared out")
    t.add_argument("--data-dir", help="folder of the MNIST / Fashion-MNIST files, placed there in advance or downloaded into it (default data/)")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any config field, repeatable (e.g. --set lr=3e-4 --set decoder_channels=32-16-8)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="print a checkpoint's metrics on the held-out split as JSON")
    e.add_argument("dir", help="checkpoint folder, e.g. checkpoints/healthy")
    e.add_argument("--iw-samples", type=int, default=10, help="importance samples K for the nll estimate (0 skips it)")
    e.add_argument("--device", default="auto", help="auto, cpu or cuda")
    e.add_argument("--data-dir", help="folder of the MNIST / Fashion-MNIST files (default data/)")
    e.add_argument("--no-second-stage", action="store_true",
                   help="leave out the samples through the second VAE (a folder without one would fit it: minutes on a CPU)")
    e.set_defaults(func=_cmd_evaluate)

    sm = sub.add_parser("sample", help="write N decoded samples of a checkpoint (.npy array or .png grid)")
    sm.add_argument("dir", help="checkpoint folder, e.g. checkpoints/healthy")
    sm.add_argument("--n", type=int, default=100, help="how many samples")
    sm.add_argument("--seed", type=int, default=0, help="seed of the samples")
    sm.add_argument("--sampler", choices=SAMPLERS, default="prior",
                    help="z from N(0, I), from a mixture fitted to the training codes, or through a second VAE fitted to them")
    sm.add_argument("--out", required=True, help="FILE.npy (N x 28 x 28 floats in [0, 1]) or FILE.png (a grid)")
    sm.add_argument("--data-dir", help="folder of the MNIST / Fashion-MNIST files (default data/)")
    sm.set_defaults(func=_cmd_sample)

    r = sub.add_parser("report", help="evaluate every preset and print the README's preset table (with date and commit)")
    r.add_argument("--checkpoints", default="checkpoints", help="folder of the trained presets")
    r.add_argument("--iw-samples", type=int, default=100, help="importance samples K for the IW-NLL column")
    r.add_argument("--readme", help="also write the table into this file, between its presets-table markers")
    r.add_argument("--device", default="auto", help="auto, cpu or cuda")
    r.set_defaults(func=_cmd_report)

    g = sub.add_parser("gaps", help="measure how far interpolations between held-out digits run from the training codes, per preset")
    g.add_argument("--checkpoints", default="checkpoints", help="folder of the trained presets")
    g.add_argument("--presets", type=lambda v: v.split(","), default=["healthy", "autoencoder"], help="comma-separated presets")
    g.add_argument("--pairs", type=int, default=50, help="seeded pairs of different held-out digits")
    g.add_argument("--steps", type=int, default=9, help="points on each line, both ends included (odd: the middle one is the midpoint)")
    g.add_argument("--seed", type=int, default=0, help="seed of the pairs")
    g.add_argument("--results", help="also write the table into this file (benchmarks/RESULTS.md), between its gaps-table markers")
    g.set_defaults(func=_cmd_gaps)

    lk = sub.add_parser("likelihood", help="measure blur under L2 against L1 and where a learned sigma goes (the Likelihood tab's figures)")
    lk.add_argument("--checkpoints", default="checkpoints", help="folder of the trained healthy, laplace and learned-sigma models")
    lk.add_argument("--readme", help="also write the figures into this file (README.md), between its likelihood-table markers")
    lk.add_argument("--results", help="and into this one (benchmarks/RESULTS.md)")
    lk.set_defaults(func=_cmd_likelihood)

    dcp = sub.add_parser("data-curve", help="train the healthy recipe on fewer training digits (same steps) and measure the promise against N")
    dcp.add_argument("--sizes", type=sizes_list, default=list(SIZES), help="comma-separated numbers of training digits")
    dcp.add_argument("--no-augment", dest="augment", action="store_false", help="leave out the second line, trained with augmentation")
    dcp.add_argument("--out", default=DATA_CURVE_DIR, help="folder of the runs and curve.json (the Prior tab draws it from checkpoints/data-curve)")
    dcp.add_argument("--checkpoints", default="checkpoints", help="folder of the presets, whose digit judge the runs share")
    dcp.add_argument("--device", default="auto", help="auto, cpu or cuda")
    dcp.add_argument("--data-dir", help="folder of the data files (default data/)")
    dcp.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any config field of every run, repeatable")
    dcp.set_defaults(func=_cmd_data_curve)

    pb = sub.add_parser("publish", help="upload checkpoint folders (or every preset) to a Hugging Face Hub repo, with a model card")
    pb.add_argument("dirs", nargs="*", help="checkpoint folders: one goes to the repo's top, several each into a subfolder of its name")
    pb.add_argument("--presets-root", help="instead: every trained preset in this folder (e.g. checkpoints), one subfolder each, with the digit judge")
    pb.add_argument("--repo", required=True, help="owner/name on the Hub (created when missing)")
    pb.add_argument("--revision", help="branch to commit to (default main)")
    pb.add_argument("--private", action="store_true", help="create the repo private")
    pb.add_argument("--out", help="only write the folder that would be uploaded (model card included) here")
    pb.set_defaults(func=_cmd_publish)

    s = sub.add_parser("sweep", help="train one run per beta and print the beta sweep table")
    s.add_argument("--betas", type=lambda v: [float(b) for b in v.split(",")], default=[0, 0.1, 1, 10, 100], help="comma-separated betas")
    s.add_argument("--sigma", type=float, default=0.1, help="fixed decoder sigma")
    s.add_argument("--latent-dim", type=int, default=128, help="latent dimensions")
    s.add_argument("--epochs", type=int, default=8, help="epochs per run")
    s.add_argument("--out", default="runs/sweep", help="folder for the runs")
    s.add_argument("--device", default="auto", help="auto, cpu or cuda (under torchrun: each process its own GPU)")
    s.add_argument("--data-dir", help="folder of the MNIST / Fashion-MNIST files (default data/)")
    s.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any config field, repeatable (e.g. --set lr=3e-4 --set decoder_channels=32-16-8)")
    s.set_defaults(func=_cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError
    from .data import DataUnavailableError
    from .distributed import JobStopped, is_main_process
    from .store import CheckpointError
    from .train import TrainingDiverged

    args = build_parser().parse_args(argv)
    say = is_main_process()  # under torchrun every rank meets the same error: rank 0 says it once
    try:
        return args.func(args)
    except (UsageError, CheckpointError, DataUnavailableError, ConfigError) as err:  # the person's input: a sentence
        if say:
            if os.environ.get("VAE_DEBUG") == "1":
                traceback.print_exc()
            print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        if say:
            print(f"error: training stopped: {err}; the last good checkpoint is kept", file=sys.stderr)
        return 1
    except JobStopped as err:  # only this rank knows it: every rank that meets it says it
        print(f"error: {err}; finished epochs are kept, continue with --resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if say:
            print("interrupted; every finished epoch is kept and --resume (or train --all) continues it", file=sys.stderr)
        return 130
