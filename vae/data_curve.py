"""How much data the article's promise needs: the healthy recipe trained on N training digits, for several N.

Each run takes as many optimiser steps as the full recipe (its epochs, and its KL warm-up, scaled by full / N), so a
smaller set is not also a shorter training. A second line trains with augmentation (small random rotations, scales and
shifts of every batch): more digits of the same shapes, not more distinct digits. For each run: the share of prior
samples the judge is sure are digits, the share of held-out reconstructions that keep their digit, and the mean KL of
the N training digits split into I(x; z) (at most log N) and the mismatch with the prior (analysis.kl_split).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from .config import VAEConfig, preset_config
from .data import DataBundle, Split
from .store import atomic_write_json, read_json

SIZES = (500, 1000, 2000, 4000)
RESULTS = "curve.json"  # in the curve's folder, beside its runs; the Prior tab draws it when present
FOLDER = "data-curve"  # under the checkpoints folder, where the app looks for it
DEFAULT_DIR = f"checkpoints/{FOLDER}"


def curve_config(n: int, augment: bool, full: int, base: VAEConfig | None = None) -> VAEConfig:
    """The healthy recipe on the first n of `full` training digits, for the full recipe's number of steps."""
    base = base or preset_config("healthy")
    if not 0 < n <= full:
        raise ValueError(f"a data-curve size must be from 1 to {full}, the training digits there are; got {n}")
    scale = full / n
    return dataclasses.replace(base, train_digits=0 if n == full else n, epochs=max(1, round(base.epochs * scale)),
                               kl_warmup_epochs=base.kl_warmup_epochs * scale, augment=augment)


def run_name(n: int, augment: bool) -> str:
    return f"n{n}{'-augmented' if augment else ''}"


def curve_row(model, data: DataBundle, config: VAEConfig, final: dict) -> dict:
    """One run's point: its judged figures (metrics.json's final) and the KL split over the digits it trained on."""
    from .analysis import encode_images, kl_split

    n = config.train_digits or len(data.train)
    train = Split(data.train.images[:n], data.train.labels[:n])
    split = kl_split(*encode_images(model, train.images))
    return {"n": n, "augment": config.augment, "epochs": config.epochs, "sample_valid": final["sample_valid"],
            "sample_coverage": final["sample_coverage"], "recon_keeps_digit": final["recon_keeps_digit"], "knn_acc": final["knn_acc"],
            "kl": split["kl"], "kl_info": split["info"], "kl_mismatch": split["mismatch"], "log_n": math.log(n)}


def save_curve(directory: Path, rows: list[dict], provenance: str) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(directory) / RESULTS, {"provenance": provenance, "rows": rows})


def load_curve(directory: Path) -> dict | None:
    """The saved curve ({"provenance", "rows"}), or None when it has not been measured (or cannot be read)."""
    try:
        curve = read_json(Path(directory) / RESULTS)
        return curve if curve.get("rows") else None
    except Exception:  # missing or torn: the tab says how to measure it
        return None


def curve_table(rows: list[dict]) -> str:
    """The README's table: one line per run."""
    lines = ["| training digits | augmented | epochs | prior samples that are digits | reconstructions keep the digit | KL (nats) | "
             "I(x; z) | log N | mismatch with the prior |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["augment"], r["n"])):
        lines.append(f"| {r['n']:,} | {'yes' if r['augment'] else 'no'} | {r['epochs']} | {r['sample_valid']:.2f} | "
                     f"{r['recon_keeps_digit']:.2f} | {r['kl']:.1f} | {r['kl_info']:.1f} | {r['log_n']:.1f} | {r['kl_mismatch']:.1f} |")
    return "\n".join(lines)
