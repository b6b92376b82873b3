"""Is a confident judge enough, or must a valid sample also lie on the real digits' manifold? (issue 20, item 4)

    python benchmarks/validity.py [--checkpoints checkpoints] [--model healthy]

For sets of images with a known answer (real held-out digits: valid; uniform noise, flat grey, the mean training
image: not digits; 50/50 blends of two held-out digits: mostly not) and for the model's own samples (prior, mixture,
second VAE), the share the project's judge calls digits with confidence >= 0.9, and the share that is also on the
real digits' manifold in the judge's 128-d feature space, three ways, each with k = 3 and 5 nearest neighbours among
the training digits' features: inside some real digit's k-NN ball (improved precision, Kynkaanniemi et al. 2019),
inside the ball of its own nearest real digit, and inside at least k balls (density >= 1, Naeem et al. 2020).
Prints one table with the command, date and commit. The judge's rule since c69cbe7 (judge.valid_fraction) is the
k = 5 "in some ball" column.
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.run import commit  # noqa: E402
from vae import two_stage  # noqa: E402
from vae.analysis import decode_latents, train_latents_for  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.judge import CONFIDENT, load_or_train_judge, squared_distances  # noqa: E402
from vae.model import VAE  # noqa: E402

N = 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    p.add_argument("--model", default="healthy")
    args = p.parse_args()
    started = commit()
    data = load_dataset("mnist-5k")
    judge = load_or_train_judge(data, args.checkpoints, log=lambda m: None)
    real = judge(data.train.images).features
    within = squared_distances(real, real)
    np.fill_diagonal(within, np.inf)
    radii = np.sort(within, 1)  # radii[:, k - 1]: each real digit's distance to its k-th nearest other real digit
    directory = Path(args.checkpoints) / args.model
    model = VAE.from_pretrained(directory).eval()
    train = train_latents_for(model, directory, data.train)
    rng = np.random.default_rng(0)
    held_out = data.test.images[:, 0].numpy()
    sets = {
        "real held-out digits": held_out,
        "uniform noise": rng.uniform(0, 1, (N, 28, 28)),
        "flat grey (0.1 to 0.9)": np.repeat(np.linspace(0.1, 0.9, 10), 28 * 28).reshape(10, 28, 28),
        "the mean training image": data.train.images[:, 0].numpy().mean(0, keepdims=True),
        "blends of two held-out digits": 0.5 * held_out[: N // 2] + 0.5 * held_out[N // 2 :],
    }
    for sampler in ("prior", "mixture", "two-stage"):
        sets[f"{args.model}: {sampler} samples"] = decode_latents(model, two_stage.sample_codes(sampler, N, 0, train, directory))
    rows = []
    for name, images in sets.items():
        j = judge(images)
        sure = j.confidence >= CONFIDENT
        d = squared_distances(j.features, real)
        cells = [f"{sure.mean():.3f}"]
        for k in (3, 5):
            balls = d <= radii[:, k - 1][None]
            nearest = d.argmin(1)
            own = d[np.arange(len(d)), nearest] <= radii[nearest, k - 1]
            cells += [f"{(sure & balls.any(1)).mean():.3f}", f"{(sure & own).mean():.3f}", f"{(sure & (balls.sum(1) >= k)).mean():.3f}"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    command = "python benchmarks/validity.py " + " ".join(sys.argv[1:])
    print(f"`{command.strip()}` on {datetime.date.today()}, commit {started}: the share of each set counted as digits\n")
    print("| images | confident (>= 0.9) | k=3: and in some ball | and in its nearest's ball | and in >= k balls | "
          "k=5: and in some ball | and in its nearest's ball | and in >= k balls |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
