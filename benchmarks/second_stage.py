"""The second VAE's size against how many of its samples decode to a digit (issue 20, item 3).

    python benchmarks/second_stage.py [--model healthy] [--sizes 256x2,1024x3] [--seeds 0,1]

For each size (hidden units x hidden layers, in its encoder and its decoder) and seed: fit the second stage to the
trained model's training codes as the app does (vae.two_stage.fit, the app's epochs and batches), decode 1,000 of its
samples with the first model, and judge them with the presets' digit judge (sample_valid: confidence >= 0.9;
sample_coverage). Prints a table with the command, date and commit, and the seconds each fit took.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.run import commit  # noqa: E402
from vae import two_stage  # noqa: E402
from vae.analysis import decode_latents, encode_images  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.judge import coverage, load_or_train_judge, valid_fraction  # noqa: E402
from vae.model import VAE  # noqa: E402

N_SAMPLES = 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="healthy", help="a trained preset under --checkpoints")
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    p.add_argument("--sizes", default=f"{two_stage.HIDDEN}x{two_stage.LAYERS},1024x3", help="hidden units x layers, comma-separated")
    p.add_argument("--seeds", default="0,1")
    args = p.parse_args()
    started = commit()
    model = VAE.from_pretrained(Path(args.checkpoints) / args.model).eval()
    data = load_dataset(model.config.dataset)
    mu, logvar = encode_images(model, data.train.images)
    judge = load_or_train_judge(data, args.checkpoints, log=lambda m: None)
    rows = []
    for size in args.sizes.split(","):
        hidden, layers = (int(v) for v in size.split("x"))
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.perf_counter()
            second = two_stage.fit(mu, logvar, seed=seed, hidden=hidden, layers=layers)
            seconds = time.perf_counter() - t0
            j = judge(decode_latents(model, second.sample(N_SAMPLES, torch.Generator().manual_seed(seed))))
            rows.append(f"| {hidden} x {layers} | {seed} | {valid_fraction(j):.3f} | {coverage(j):.3f} | {seconds:.0f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    command = "python benchmarks/second_stage.py " + " ".join(sys.argv[1:])
    print(f"The second VAE's size on {args.model} ({command.strip()}, {datetime.date.today()}, commit {started}, "
          f"{torch.get_num_threads()} threads):\n")
    print("| hidden x layers | seed | samples that are digits | coverage | seconds to fit |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
