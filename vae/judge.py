"""The sample-quality judge: a small CNN digit classifier, trained on the training split only, cached per data set.

It answers the article's central question for a trained VAE: does a z drawn from N(0, I) decode to a digit?
The judge never sees a test digit or a VAE output while it learns; its held-out accuracy says how far to trust it.
"""
from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .data import DataBundle, random_affine
from .store import atomic_path, atomic_write_json, read_json

# Bump when the recipe below changes: a cached judge of another recipe is retrained, never silently reused.
RECIPE = "cnn16-32-fc128/aug-affine/adam2e-3-onecycle/6ep/seed0/v1"
CONFIDENT = 0.9  # a sample counts as a digit when the judge gives one class at least this probability ...
MANIFOLD_K = 5  # ... and its features lie on the real digits' manifold (Manifold: k-NN balls, Kynkaanniemi et al. 2019)
# The rule valid_fraction applies, written beside every judged figure in metrics.json: figures judged by another rule
# are judged again (vae.two_stage.finish_cached), never compared with today's. Change it when the rule changes.
VALIDITY = f"confident>={CONFIDENT}&in-knn{MANIFOLD_K}-ball/v1"
EPOCHS = 6  # held-out accuracy 96.7% at 5 epochs, 97.5% at 6, 97.9% at 10: 6 is the cheapest >= 97% (it trains in every cold start)
BATCH = 64


class DigitJudge(nn.Module):
    """x (B,1,28,28) in [0,1] -> class logits (B,10); `features` is the 128-d penultimate layer (for the FID)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        )
        self.fc = nn.Linear(32 * 7 * 7, 128)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.conv(x).flatten(1)))  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.features(x)))


def train_judge(data: DataBundle, seed: int = 0, epochs: int = EPOCHS) -> DigitJudge:
    """Adam with a one-cycle schedule on augmented training digits; seeded, so the same data gives the same judge."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    judge = DigitJudge()
    x_all, y_all = data.train.images, data.train.labels
    steps = epochs * math.ceil(len(x_all) / BATCH)
    opt = torch.optim.Adam(judge.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    judge.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x_all), generator=gen).split(BATCH):
            loss = F.cross_entropy(judge(random_affine(x_all[idx], gen)), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return judge.eval().requires_grad_(False)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances between the rows of a and b."""
    return np.clip((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T, 0, None)


@dataclass
class Manifold:
    """The real digits' manifold in the judge's feature space, as improved precision estimates it (Kynkaanniemi et
    al. 2019, "Improved precision and recall metric for assessing generative models"): the union of the balls around
    each training digit's features reaching to its k-th nearest other training digit."""

    features: np.ndarray  # (N, 128) the training digits' features
    radii2: np.ndarray  # (N,) squared distance from each to its k-th nearest other training digit

    @classmethod
    def of(cls, features: np.ndarray, k: int = MANIFOLD_K, chunk: int = 1000) -> "Manifold":
        radii2 = np.empty(len(features))
        for s in range(0, len(features), chunk):
            d = squared_distances(features[s : s + chunk], features)
            d[np.arange(len(d)), np.arange(s, s + len(d))] = np.inf  # not itself
            radii2[s : s + chunk] = np.partition(d, k - 1, axis=1)[:, k - 1]
        return cls(features, radii2)

    def contains(self, features: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """(M,) bool: whether each row of `features` lies inside some training digit's ball."""
        return np.concatenate([(squared_distances(features[s : s + chunk], self.features) <= self.radii2[None]).any(1)
                               for s in range(0, len(features), chunk)] or [np.zeros(0, bool)])


@dataclass
class Judgement:
    probs: np.ndarray  # (N, 10) class probabilities
    features: np.ndarray  # (N, 128) penultimate features
    on_manifold: np.ndarray | None = None  # (N,) bool, Manifold.contains; a Judgement made by hand (tests): all True

    def __post_init__(self):
        if self.on_manifold is None:
            self.on_manifold = np.ones(len(self.probs), bool)

    @property
    def labels(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(1)


class Judge:
    """A trained DigitJudge with what it measured about itself on the held-out digits."""

    def __init__(self, net: DigitJudge, info: dict):
        self.net = net
        self.info = info  # held_out_acc, and the real digits' own valid / coverage / inception score
        self.manifold: Manifold | None = None  # the training digits' (load_or_train_judge; until then nothing is on it)
        self.reference: Judgement | None = None  # the held-out digits, judged: the FID's reference

    @torch.no_grad()
    def __call__(self, images: np.ndarray | torch.Tensor, batch_size: int = 500) -> Judgement:
        """Judge images (N, 28, 28) or (N, 1, 28, 28) in [0, 1]."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28).clamp(0, 1)
        probs, feats = [], []
        for s in range(0, len(x), batch_size):
            f = self.net.features(x[s : s + batch_size])
            probs.append(F.softmax(self.net.out(f), dim=1))
            feats.append(f)
        features = torch.cat(feats).numpy().astype(np.float64)
        on = self.manifold.contains(features) if self.manifold is not None else np.zeros(len(features), bool)
        return Judgement(torch.cat(probs).numpy().astype(np.float64), features, on)


# --- the measures (one definition each; DESIGN.md "Metrics") -----------------------------------------

def valid_fraction(j: Judgement, threshold: float = CONFIDENT) -> float:
    """Share of images that are digits: the judge calls them one digit with confidence >= threshold *and* their
    features lie on the real digits' manifold (a confident classifier alone takes some flat greys for digits)."""
    return float(((j.confidence >= threshold) & j.on_manifold).mean())


def judged_now(figures: dict) -> bool:
    """Whether judged figures (metrics.json's "final") were judged by today's rule (VALIDITY)."""
    return figures.get("validity") == VALIDITY


def coverage(j: Judgement) -> float:
    """Normalised entropy of the predicted classes: 1 when all ten are equally common, 0 when all are one digit."""
    counts = np.bincount(j.labels, minlength=10).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(10))


def inception_score(j: Judgement) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 10 for confident, evenly spread digits, 1 for one class or no confidence."""
    p = np.clip(j.probs, 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def frechet_distance(a: Judgement, b: Judgement) -> float:
    """Frechet distance between Gaussians fitted to two sets of penultimate features (the FID, with this judge)."""
    m1, m2 = a.features.mean(0), b.features.mean(0)
    c1, c2 = np.cov(a.features, rowvar=False), np.cov(b.features, rowvar=False)
    # Tr sqrt(C1 C2) = Tr sqrt(S C2 S) with S = sqrt(C1): symmetric, so eigh is exact and stable even when
    # dead ReLU features make C1 singular (scipy's sqrtm of C1 C2 warned and drifted there).
    vals, vecs = np.linalg.eigh(c1)
    s = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s @ c2 @ s), 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross)


def keeps_label(j: Judgement, labels: np.ndarray) -> float:
    """Share of images the judge calls the given label (e.g. reconstructions keeping their input's digit)."""
    return float((j.labels == np.asarray(labels)).mean())


def classes_found(j: Judgement, threshold: float = 0.5) -> int:
    """How many different digits the judge finds among the images it is at least `threshold` sure of."""
    return int(len(np.unique(j.labels[j.confidence > threshold])))


# --- cache: root/judge-<dataset>/ -----------------------------------------------------------------------

def judge_dir(root: str | Path, dataset: str) -> Path:
    return Path(root) / f"judge-{dataset}"


def share_judge(source_root: str | Path, root: str | Path, dataset: str) -> None:
    """Copy the judge cached under `source_root` to `root` (once), so runs saved under `root` judge their samples with
    it instead of training a judge of their own first (training reads it from the run folder's parent)."""
    source, target = judge_dir(source_root, dataset), judge_dir(root, dataset)
    if source.exists() and not target.exists():
        try:
            shutil.copytree(source, target)
        except OSError:  # the runs train their own judge instead
            shutil.rmtree(target, ignore_errors=True)


def load_or_train_judge(data: DataBundle, root: str | Path, log=print) -> Judge:
    """The judge for `data`, from root/judge-<dataset>/ when it was made by this recipe, else trained (~10 s) and saved."""
    directory = judge_dir(root, data.name)
    net = DigitJudge()
    info = None
    try:
        cached = read_json(directory / "judge.json")
        if cached.get("recipe") == RECIPE and cached.get("n_train") == len(data.train):
            net.load_state_dict(load_file(str(directory / "model.safetensors")))
            info = cached
    except Exception:  # missing, unreadable or of another recipe: train it again
        info = None
    net.eval().requires_grad_(False)
    if info is None:
        t0 = time.perf_counter()
        net = train_judge(data)
        seconds = time.perf_counter() - t0
        info = {"recipe": RECIPE, "n_train": len(data.train), "train_seconds": round(seconds, 1),
                "held_out_acc": keeps_label(Judge(net, {})(data.test.images), data.test.labels.numpy())}
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
        atomic_write_json(directory / "judge.json", info)
        log(f"trained the sample-quality judge for {data.name} in {seconds:.1f}s: {info['held_out_acc']:.1%} on the held-out digits")
    judge = Judge(net, info)
    judge.manifold = Manifold.of(judge(data.train.images).features)
    judge.reference = reference = judge(data.test.images)
    info.update(held_out_valid=valid_fraction(reference), held_out_coverage=coverage(reference),
                held_out_inception_score=inception_score(reference))  # by today's rules, whenever the judge was trained
    return judge

