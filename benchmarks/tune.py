"""Measure what a change to a preset buys: train variants of it and judge each one.

    python benchmarks/tune.py --preset healthy --variant base: --variant onecycle:lr_schedule=onecycle,lr=2e-3

Each variant is `name:field=value,field=value` over the preset's VAEConfig. Runs go to runs/tune/<preset>-<name>/
(trained again only when missing or --fresh). Prints one JSON line per run and a Markdown table: train seconds
(the epochs alone, from metrics.json), the judge's sample_valid / sample_coverage / recon_keeps_digit, 5-NN, KL, MSE.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vae.cli import provenance  # noqa: E402
from vae.config import ConfigError, VAEConfig, preset_config, with_settings  # noqa: E402
from vae.store import read_json  # noqa: E402
from vae.train import run_record, train  # noqa: E402

COLUMNS = ["sample_valid", "sample_coverage", "recon_keeps_digit", "knn_acc", "kl", "mse", "sample_fid", "grid_classes"]


def variant(base: VAEConfig, spec: str) -> tuple[str, VAEConfig, str]:
    """A variant `name:field=value,field=value` over the preset's config (the same syntax as the CLI's --set)."""
    name, _, changes = spec.partition(":")
    try:
        return name, with_settings(base, filter(None, changes.split(","))), changes or "(the preset)"
    except ConfigError as err:
        raise SystemExit(f"variant {spec!r}: {err}") from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="healthy")
    p.add_argument("--variant", action="append", default=[], help="name:field=value,... (repeatable)")
    p.add_argument("--out", default=str(ROOT / "runs" / "tune"))
    p.add_argument("--fresh", action="store_true", help="train again even when a finished run exists")
    args = p.parse_args()
    rows = []
    for spec in args.variant or ["base:"]:
        name, config, changes = variant(preset_config(args.preset), spec)
        out = Path(args.out) / f"{args.preset}-{name}"
        if args.fresh and out.exists():
            shutil.rmtree(out)
        train(config, out, resume=True, progress=False, name=out.name, log=lambda m: print(m, file=sys.stderr))
        m = read_json(out / "metrics.json")
        row = {"variant": name, "changes": changes, "epochs": config.epochs, "train_s": m["train_seconds"],
               "fast_path": run_record(out)["fast_path_used"], **{k: m["final"].get(k) for k in COLUMNS}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{provenance(' '.join(['python benchmarks/tune.py', *sys.argv[1:]]))}\n")
    print("| variant | change | epochs | train s | valid | coverage | keeps digit | 5-NN | KL | MSE | FID | grid classes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = lambda k, fmt: "" if r.get(k) is None else format(r[k], fmt)  # noqa: E731
        print(f"| {r['variant']} | {r['changes']} | {r['epochs']} | {r['train_s']:.0f} | {f('sample_valid', '.3f')} | {f('sample_coverage', '.3f')} | "
              f"{f('recon_keeps_digit', '.3f')} | {f('knn_acc', '.3f')} | {f('kl', '.1f')} | {f('mse', '.4f')} | {f('sample_fid', '.0f')} | {f('grid_classes', 'd')} |")


if __name__ == "__main__":
    main()
