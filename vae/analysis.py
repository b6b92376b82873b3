"""Pure functions over a trained model: latents, metrics, projections, grids, interpolations, samples."""
from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import Sibling
from .data import DataBundle, Split
from .losses import iw_log_likelihood
from .model import Posterior
from .store import atomic_path

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: Cov_x(E_q[z_u]) above this counts as active
PRIOR_MEAN_ABS = math.sqrt(2 / math.pi)  # E|z| for z ~ N(0, 1): 0.798


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode_images(model, images: torch.Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """mu and logvar (N, D) float32 for images (N,1,28,28)."""
    model.eval()
    mus, logvars = [], []
    for start in range(0, len(images), batch_size):
        mu, logvar = model.encode(images[start : start + batch_size].to(_device(model)))
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy()


@torch.no_grad()
def decode_latents(model, z: np.ndarray | torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Images (N, 28, 28) float32 in [0, 1] for latents (N, D), decoded in batches."""
    model.eval()
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    out = [model.decode(z[s : s + batch_size].to(_device(model))).cpu() for s in range(0, len(z), batch_size)]
    return torch.cat(out)[:, 0].numpy()


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Mean over images of each dimension's KL to N(0, 1), shape (D,)."""
    return Posterior(torch.from_numpy(mu), torch.from_numpy(logvar)).kl_per_dim().mean(0).numpy()


KL_SPLIT_SAMPLES = 2000  # draws z ~ q(z) for the split below: its Monte Carlo error is a few percent of each part


def kl_split(mu: np.ndarray, logvar: np.ndarray, samples: int = KL_SPLIT_SAMPLES, seed: int = 0, chunk: int = 250) -> dict:
    """Where the KL's nats go ("ELBO surgery", Hoffman & Johnson 2016): the mean KL of N codes' bubbles to the prior is
    I(x; z), what a z says about which of the N digits it came from (never more than log N), plus KL(q(z) || p(z)),
    how far the codes' aggregate q(z) = (1/N) sum_n q(z | x_n) lies from N(0, I): the prior's holes.

    Monte Carlo over `samples` draws z ~ q(z) (a digit n at random, then z ~ q(z | x_n)), each with log q(z) exact: a
    logsumexp over all N bubbles, not a minibatch's (the approximation beta-TCVAE's estimator makes). Both parts are
    then unbiased up to Monte Carlo error, their sum estimates the mean KL (returned exact, as `kl`), and every
    draw's log q(z | x_n) - log q(z) is at most log N, so the estimate of I is too."""
    mu, logvar = torch.as_tensor(np.asarray(mu), dtype=torch.float64), torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    n, d = mu.shape
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(n, (samples,), generator=gen)
    z = Posterior(mu[pick], logvar[pick]).sample(gen)  # (samples, D), float64 as mu
    inv_var = torch.exp(-logvar)
    norm = logvar.sum(1) + d * math.log(2 * math.pi)  # (N,)
    mu_iv, mu2_iv = mu * inv_var, (mu**2 * inv_var).sum(1)
    own, aggregate = [], []
    for s in range(0, samples, chunk):
        zc = z[s : s + chunk]
        quad = (zc**2) @ inv_var.T - 2 * zc @ mu_iv.T + mu2_iv  # sum_d (z_d - mu_nd)^2 / var_nd, for every n: (c, N)
        log_q = -0.5 * (quad + norm)  # log q(z | x_n)
        own.append(log_q[torch.arange(len(zc)), pick[s : s + chunk]])
        aggregate.append(torch.logsumexp(log_q, dim=1) - math.log(n))  # log q(z)
    own, aggregate = torch.cat(own), torch.cat(aggregate)
    log_p = -0.5 * ((z**2).sum(1) + d * math.log(2 * math.pi))
    info, mismatch = float((own - aggregate).mean()), float((aggregate - log_p).mean())
    kl = float(Posterior(mu, logvar).kl().mean())
    return {"kl": kl, "info": info, "mismatch": mismatch, "log_n": math.log(n), "n": n}


def split_metrics(split: dict) -> dict:
    """kl_split as metrics.json keeps it: over the training digits, the mean KL, its two parts and the bound log N."""
    return {"kl_train": split["kl"], "kl_info": split["info"], "kl_mismatch": split["mismatch"], "kl_info_bound": split["log_n"]}


def active_mask(mu: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> np.ndarray:
    """(D,) bool: the dimensions whose mean code varies across inputs, Cov_x(E_q[z_u]) > threshold."""
    return mu.var(axis=0) > threshold


def active_units(mu: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """How many dimensions are active (active_mask)."""
    return int(active_mask(mu, threshold).sum())


def knn_accuracy(mu_train: np.ndarray, y_train: np.ndarray, mu_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> float:
    """A 5-NN classifier on mu, fit on train, scored on test: how well the codes separate the classes."""
    from sklearn.neighbors import KNeighborsClassifier

    return float(KNeighborsClassifier(n_neighbors=k).fit(mu_train, y_train).score(mu_test, y_test))


@dataclass
class PCA2:
    """A 2-D PCA plane: project(x) = (x - mean) @ components.T."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (2, D), rows orthonormal

    def project(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x) - self.mean) @ self.components.T

    def lift(self, xy: np.ndarray) -> np.ndarray:
        """A point of the plane back in the latent space: the codes' mean plus xy along the two directions, every other
        direction at the mean (for 2-D codes, the plane itself: z = xy). project(lift(xy)) == xy."""
        return self.mean + np.asarray(xy, dtype=np.float32) @ self.components


def fit_pca2(x: np.ndarray) -> PCA2:
    """The top two principal directions, signs fixed so the result is reproducible. Codes of two dimensions are
    their own plane: the identity, so a point's coordinates are its literal z1, z2 (no centring, no rotation)."""
    mean = x.mean(axis=0)
    d = x.shape[1]
    if d == 2:
        return PCA2(np.zeros(2, dtype=np.float32), np.eye(2, dtype=np.float32))
    if d == 1:
        return PCA2(mean, np.array([[1.0], [0.0]], dtype=np.float32))
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:2]
    comps = comps * np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])[:, None]
    return PCA2(mean.astype(np.float32), comps.astype(np.float32))


def project_gaussian(pca: PCA2, mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q(z|x) = N(mu, diag(exp(logvar))) seen on the PCA plane: its centre (2,) and covariance (2, 2)."""
    c = pca.components.astype(np.float64)
    return pca.project(mu).astype(np.float64), (c * np.exp(np.asarray(logvar, dtype=np.float64))) @ c.T


def ellipse_points(center: np.ndarray, cov: np.ndarray, k: float = 1.0, n: int = 100) -> np.ndarray:
    """(n, 2) points on the k-sigma contour of a 2-D Gaussian."""
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    return center + k * (circle * np.sqrt(np.maximum(vals, 0))) @ vecs.T


def tsne_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE of the codes (N, 2); slow (seconds), so callers cache it per checkpoint."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(x).astype(np.float32)


def grid_values(n: int = 15, span: float = 3.0) -> np.ndarray:
    """n values along one axis, evenly spaced in z over [-span, span]."""
    return np.linspace(-span, span, n, dtype=np.float32)


def latent_grid(model, dims: tuple[int, int] = (0, 1), n: int = 15, span: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """The article's z1/z2 figure: decode an n x n grid over two dimensions with the rest at zero, in one batch.

    Returns (images (n, n, 28, 28) with row 0 at the top = highest z2, values (n,)).
    """
    d = model.config.latent_dim
    i, j = dims
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise ValueError(f"choose two different dimensions between 0 and {d - 1}, got {dims}")
    values = grid_values(n, span)
    z = np.zeros((n, n, d), dtype=np.float32)
    z[:, :, i] = values[None, :]  # columns: z_i from left to right
    z[:, :, j] = values[::-1, None]  # rows: z_j from top (high) to bottom (low)
    return decode_latents(model, z.reshape(n * n, d), batch_size=n * n).reshape(n, n, 28, 28), values


def line_between(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """(steps, D) points evenly spaced on the straight line from a to b, both ends included."""
    t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
    return (1 - t) * np.asarray(a, dtype=np.float32) + t * np.asarray(b, dtype=np.float32)


def codes_line(model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int) -> np.ndarray:
    """(steps, D): the straight line between the codes (mu) of two images (1,28,28)."""
    mu, _ = encode_images(model, torch.stack([x_a, x_b]))
    return line_between(mu[0], mu[1], steps)


def nearest(queries: np.ndarray, points: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest points (Euclidean) to each query: (distances (Q, k), indices (Q, k)), nearest first."""
    d = torch.cdist(torch.as_tensor(np.asarray(queries, dtype=np.float32)).reshape(-1, points.shape[1]), torch.as_tensor(np.asarray(points, dtype=np.float32)))
    dist, idx = d.topk(min(k, len(points)), dim=1, largest=False)
    return dist.numpy(), idx.numpy()


def typical_gap(held_out_mu: np.ndarray, train_mu: np.ndarray) -> float:
    """The median distance from a held-out digit's code to its nearest training code: how far a real, unseen digit
    lands from the codes the decoder was trained on, the yardstick for the distances along an interpolation (each
    model's codes live on their own scale, the autoencoder's many times the healthy one's)."""
    return float(np.median(nearest(held_out_mu, train_mu)[0][:, 0]))


def different_digit_pairs(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """(n, 2) indices of pairs of digits with different labels ("halfway between a 1 and a 7"), drawn with `seed`."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("pairs of different digits need at least two classes")
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < n:
        a, b = rng.choice(len(labels), size=2, replace=False)
        if labels[a] != labels[b]:
            pairs.append((int(a), int(b)))
    return np.array(pairs, dtype=np.int64).reshape(n, 2)


def interpolation_gaps(model, x_a: torch.Tensor, x_b: torch.Tensor, train_mu: np.ndarray, steps: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Decode the straight line between the codes (mu) of two images (1,28,28), and measure how far each point of it
    lies from the nearest training code: (images (steps, 28, 28), distances (steps,)). A point far from every code is
    in a dead zone, where the decoder was never trained."""
    z = codes_line(model, x_a, x_b, steps)
    return decode_latents(model, z), nearest(z, train_mu)[0][:, 0]


@torch.no_grad()
def posterior_samples(model, x: torch.Tensor, n: int = 8, generator: torch.Generator | None = None) -> np.ndarray:
    """n reconstructions of one image (1,28,28), each from its own z ~ q(z|x): (n, 28, 28)."""
    mu, logvar = model.encode(x[None].to(_device(model)))
    z = Posterior(mu[0].cpu(), logvar[0].cpu()).sample(generator, n=n)  # (n, D)
    return decode_latents(model, z)


def prior_samples(model, n: int = 8, seed: int = 0) -> np.ndarray:
    """n images decoded from z ~ N(0, I), seeded: (n, 28, 28) (the same z as model.sample with that generator)."""
    z = torch.randn(n, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    return decode_latents(model, z)


# --- metrics (one definition each, see DESIGN.md) -------------------------------------

N_PRIOR_SAMPLES = 1000  # seeded prior samples judged for sample_valid / sample_coverage / IS / FID


def sample_quality(model, judge, test: Split, recon_mu: torch.Tensor, seed: int = 0) -> dict:
    """Does a z drawn from N(0, I) decode to a digit? The judge's verdict on 1,000 seeded prior samples, on the
    reconstructions of the held-out digits (from mu), and for 2-D models on the 15 x 15 grid over [-3, 3]^2."""
    from . import judge as J

    samples = judge(prior_samples(model, N_PRIOR_SAMPLES, seed=seed))
    recons = judge(recon_mu)
    out = {
        "validity": J.VALIDITY,  # the rule sample_valid was judged by
        "sample_valid": J.valid_fraction(samples),  # confident (>= 0.9) and on the real digits' manifold
        "sample_coverage": J.coverage(samples),  # normalised entropy of their classes
        "sample_inception_score": J.inception_score(samples),
        "sample_fid": J.frechet_distance(samples, judge.reference),  # against the held-out digits
        "recon_keeps_digit": J.keeps_label(recons, test.labels.numpy()),
        "judge_held_out_acc": judge.info.get("held_out_acc"),
        "real_inception_score": judge.info.get("held_out_inception_score"),
    }
    if model.config.latent_dim == 2:
        grid, _ = latent_grid(model, (0, 1), n=15)
        out["grid_classes"] = J.classes_found(judge(grid.reshape(-1, 28, 28)), threshold=0.5)
    return out


def judge_again(model, data: DataBundle, judge) -> dict:
    """sample_quality's figures for `model`, as compute_metrics measures them at the end of training: what a trained
    checkpoint judged by an older rule (judge.judged_now) gets in their place."""
    mu, _ = encode_images(model, data.test.images)
    return sample_quality(model, judge, data.test, torch.from_numpy(decode_latents(model, mu))[:, None])


@torch.no_grad()
def compute_metrics(model, data: DataBundle, iw_samples: int = 10, seed: int = 0, judge=None, progress: bool = False) -> dict:
    """Every metric of DESIGN.md on the held-out split (kNN is fit on the train split); the sample-quality
    metrics when a judge (vae.judge.load_or_train_judge) is given; progress shows a bar over the IW-NLL (the long part)."""
    from .losses import recon_nll

    model.eval()
    test = data.test
    mu, logvar = encode_images(model, test.images)
    mu_tr, logvar_tr = encode_images(model, data.train.images)
    gen = torch.Generator().manual_seed(seed)
    recon_mu = torch.from_numpy(decode_latents(model, mu))[:, None]  # what a person sees: decoded from mu
    z = Posterior(torch.from_numpy(mu), torch.from_numpy(logvar)).sample(gen)  # one z ~ q(z|x) per image
    logits = torch.cat([model.decoder.logits(z[s : s + 500].to(_device(model))).float().cpu() for s in range(0, len(z), 500)])
    recon = recon_nll(test.images, logits, model.config)
    kld = kl_per_dimension(mu, logvar)
    metrics = {
        "recon": float(recon.mean()),  # E_q[-log p(x|z)], one sample z per image
        "mse": float((recon_mu - test.images).pow(2).mean()),  # per pixel, reconstruction from mu
        "kl": float(kld.sum()),
        "elbo": float(-(recon.mean() + kld.sum())),
        "active_units": active_units(mu),
        "knn_acc": knn_accuracy(mu_tr, data.train.labels.numpy(), mu, test.labels.numpy()),
        "mean_abs_mu": float(np.abs(mu).mean()),
        "mean_abs_mu_vs_prior": float(np.abs(mu).mean() / PRIOR_MEAN_ABS),
        "mean_abs_mu_center": float(np.abs(mu.mean(axis=0)).mean()),  # how far the cloud's centre is from 0
        "within_3_sigma": float((np.abs(mu) <= 3).mean()),
        "recon_spread": float(recon_mu.std(dim=0).mean()),  # ~0 when every input decodes to the same image
        # 1.0 = as good as drawing the average training digit for every input; a collapsed model sits near it
        "mse_vs_mean_image": float((recon_mu - test.images).pow(2).mean() / (data.train.images.mean(0) - test.images).pow(2).mean()),
        "kl_per_dim": [round(float(v), 5) for v in kld],
        **split_metrics(kl_split(mu_tr, logvar_tr, seed=seed)),
        "n_test": len(test),
    }
    if judge is not None:
        metrics.update(sample_quality(model, judge, test, recon_mu, seed=seed))
    if iw_samples > 0:
        step = max(1, 500 // iw_samples)  # about 500 decodes a call: larger batches ran 1.4-2.4x slower per image on CPU
        from tqdm.auto import tqdm

        starts = tqdm(range(0, len(test), step), desc=f"IW-NLL, {iw_samples} samples per image", unit="batch", disable=not progress, dynamic_ncols=True)
        lls = [iw_log_likelihood(model, test.images[s : s + step].to(_device(model)), k=iw_samples, generator=gen).cpu() for s in starts]
        metrics["nll"] = float(-torch.cat(lls).mean())
        metrics["iw_samples"] = iw_samples
    return metrics


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b, "==": lambda a, b: a == b}


def check_preset(checks: dict, metrics: dict, sibling=lambda name: None) -> dict:
    """{metric: {"value", "want", "ok"}} for a preset's row of DESIGN.md's table.

    A target may be a number or another preset's figure, `Sibling(name, metric, offset)`; `sibling(name)` returns
    that preset's metrics (None when it has none yet, and then the check is not met).
    """
    out = {}
    for k, (op, target) in checks.items():
        if isinstance(target, Sibling):
            other = (sibling(target.preset) or {}).get(target.metric)
            want = f"{op} {target.preset}'s {target.metric} {target.offset:+g}"
            target = None if other is None else other + target.offset
        else:
            want = f"{op} {target}"
        ok = k in metrics and metrics[k] is not None and target is not None and bool(_OPS[op](metrics[k], target))
        out[k] = {"value": metrics.get(k), "want": want, "ok": ok}
    return out


# --- cached analysis per checkpoint ------------------------------------------------

def fingerprint(directory: str | Path) -> str:
    """A short hash of model.safetensors: cached analysis belongs to exactly these weights."""
    h = hashlib.sha256()
    with open(Path(directory) / "model.safetensors", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


@dataclass
class Latents:
    """The held-out split's codes and their 2-D views, as the app draws them.

    t-SNE takes seconds, and only the Compare tab shows it, so it is computed on first use (then cached with the rest)
    rather than before a model can serve its first drawing.
    """

    mu: np.ndarray  # (N, D)
    logvar: np.ndarray  # (N, D)
    labels: np.ndarray  # (N,)
    pca: PCA2
    pca_xy: np.ndarray  # (N, 2)
    kl_per_dim: np.ndarray  # (D,)
    path: Path | None = None  # the latents.npz this was read from or written to
    fingerprint: str = ""  # of the weights these codes belong to
    _tsne: np.ndarray | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tsne_xy(self) -> np.ndarray:
        """(N, 2): t-SNE of mu (2-D codes are already their own picture), computed once and cached on disk."""
        with self._lock:
            if self._tsne is None:
                self._tsne = self.mu if self.mu.shape[1] == 2 else tsne_2d(self.mu)
                if self.path is not None:
                    self.save()
            return self._tsne

    def save(self) -> None:
        arrays = dict(fingerprint=np.array(self.fingerprint), mu=self.mu, logvar=self.logvar, labels=self.labels, pca_mean=self.pca.mean,
                      pca_components=self.pca.components, pca_xy=self.pca_xy, kl_per_dim=self.kl_per_dim)
        if self._tsne is not None:
            arrays["tsne_xy"] = self._tsne
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)


TRAIN_CODES = 4000  # training digits whose codes the views compare against (all of mnist-5k's training split)


def latents_for(model, directory: str | Path, split: Split, filename: str = "latents.npz", weights: str | None = None) -> Latents:
    """Latents of `split` with their PCA (t-SNE on first use), from DIR/filename when it belongs to these weights,
    else computed and cached. `weights`: the fingerprint of the weights in `model` when already known (a model
    loaded earlier, whose folder may since hold a newer epoch); by default that of DIR/model.safetensors."""
    path = Path(directory) / filename
    fp = weights or fingerprint(directory)
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["fingerprint"]) == fp and len(f["labels"]) == len(split):
                mu = f["mu"]
                pca = fit_pca2(mu) if mu.shape[1] == 2 else PCA2(f["pca_mean"], f["pca_components"])  # caches from before 2-D codes were their own plane
                lat = Latents(mu, f["logvar"], f["labels"], pca, pca.project(mu), f["kl_per_dim"], path, fp)
                lat._tsne = f["tsne_xy"] if "tsne_xy" in f.files else None
                return lat
    except (OSError, KeyError, ValueError):
        pass  # missing or unreadable cache: compute it again
    mu, logvar = encode_images(model, split.images)
    pca = fit_pca2(mu)
    lat = Latents(mu, logvar, split.labels.numpy(), pca, pca.project(mu), kl_per_dimension(mu, logvar), path, fp)
    lat.save()
    return lat


def train_latents_for(model, directory: str | Path, train: Split, weights: str | None = None) -> Latents:
    """Codes of the first TRAIN_CODES training digits (what the decoder was trained on), cached in DIR/train_latents.npz
    like latents_for: the reference for 'how far is this z from any code the decoder has seen'."""
    split = Split(train.images[:TRAIN_CODES], train.labels[:TRAIN_CODES])
    return latents_for(model, directory, split, "train_latents.npz", weights)


# --- the prior against the codes it should cover (the aggregate posterior) -----------------------------------------

def fit_code_mixture(codes: np.ndarray, n_components: int = 10, seed: int = 0):
    """A Gaussian mixture (scikit-learn, seeded) fitted to the codes: a model of the aggregate posterior q(z), the
    distribution the codes of real digits actually follow. Diagonal covariances: full ones in 128 dimensions took
    8x longer to fit (38 s against 4.5 s on 2 busy cores) for a view that opens on a click."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():  # a collapsed model's codes are one point: fewer clusters than components, and that is the answer
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(n_components=n_components, covariance_type="diag", reg_covar=1e-4, random_state=seed).fit(np.asarray(codes, dtype=np.float64))


def mixture_samples(mixture, n: int, seed: int = 0) -> np.ndarray:
    """(n, D) float32 codes drawn from a fitted mixture, seeded."""
    mixture.random_state = seed  # GaussianMixture.sample draws from its random_state
    return mixture.sample(n)[0].astype(np.float32)


def class_gaussians(xy: np.ndarray, labels: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each class's codes on a plane as one Gaussian: {label: (mean (2,), covariance (2, 2))}."""
    labels = np.asarray(labels)
    return {int(c): (xy[labels == c].mean(0), np.cov(xy[labels == c].T)) for c in np.unique(labels) if (labels == c).sum() > 2}


def codes_density(codes_xy: np.ndarray):
    """A kernel density estimate (scikit-learn, Scott's bandwidth) of codes on a plane; .score_samples gives log density."""
    from sklearn.neighbors import KernelDensity

    xy = np.asarray(codes_xy, dtype=np.float64)
    bandwidth = float(xy.std(0).mean() * len(xy) ** (-1 / 6))  # Scott's rule in 2-D
    return KernelDensity(bandwidth=max(bandwidth, 1e-6)).fit(xy)


HOLE_LEVEL = 0.01  # a point of the plane is a hole when the codes' density there is below this share of its peak


def hole_log_density(kde, codes_xy: np.ndarray) -> float:
    """The log density below which a point of the plane counts as a hole: HOLE_LEVEL of the codes' peak density."""
    return float(kde.score_samples(np.asarray(codes_xy, dtype=np.float64)).max() + np.log(HOLE_LEVEL))


def prior_holes(kde, hole_log: float, prior_center: np.ndarray, n: int = 4000, seed: int = 0) -> float:
    """The share of the prior's mass on a plane (N(prior_center, I): the prior seen through orthonormal axes) that
    falls where the codes' density (`kde`, codes_density) is below `hole_log`: where a z ~ N(0, I) lands and no
    digit lives."""
    z = np.asarray(prior_center, dtype=np.float64) + np.random.default_rng(seed).standard_normal((n, 2))
    return float((kde.score_samples(z) < hole_log).mean())
