"""Molecular typing (IDH-wildtype / IDH-mutant codeleted / non-codeleted) in cross-validation on a lake's release:
LightGBM and the baselines on identical folds, with and without expression, with and without histology.

    python bench/molecular_typing.py --data-dir /path/to/data --release 45.0 [--repeats 1]

The data directory is one the refresh (and analyse) jobs wrote, e.g. the real dev RNA bundle's
(`tests/worlds.py::real_rna_lake`). Prints per model: macro one-vs-rest AUC (mean over folds and the Nadeau-Bengio
95 % interval), accuracy, macro F1 and Brier; the pooled out-of-fold AUC for patients with and without expression;
the CV seconds; and how many patients have no marker call (the ones the model is for).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from assets.expression_analyses import read_matrix  # noqa: E402
from contracts.tables import HARMONISED_MOLECULAR_MARKERS, HARMONISED_PATIENTS  # noqa: E402
from lake.store import Lake  # noqa: E402
from models.molecular_typing import (  # noqa: E402
    TYPING_MODELS,
    cross_validate_typing,
    pooled_metrics,
    typing_data,
    typing_frame,
)

METRICS = ("roc_auc_macro", "accuracy", "f1_macro", "brier")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--release", default="45.0")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    store = Lake(args.data_dir)
    frame = typing_frame(
        store.read_table(HARMONISED_PATIENTS, args.release),
        store.read_table(HARMONISED_MOLECULAR_MARKERS, args.release),
    )
    expression = read_matrix(store, args.release)
    unlabelled = frame.filter(pl.col("molecular_type").is_null()).height
    print(
        f"release {args.release}: {frame.height} patients, {frame.height - unlabelled} with a molecular type from "
        f"their marker calls, {unlabelled} without; {len(expression.case_ids)} with expression "
        f"({len(expression.gene_ids)} genes)"
    )
    for with_expression in (True, False):
        for with_histology in (True, False):
            data = typing_data(frame, expression if with_expression else None, with_histology=with_histology)
            started = time.monotonic()
            cv = cross_validate_typing(data, n_repeats=args.repeats)
            seconds = time.monotonic() - started
            print(
                f"\n== expression {'yes' if with_expression else 'no'}, histology {'yes' if with_histology else 'no'}"
                f": n {cv.n_patients} ({cv.n_with_expression} with expression), 5-fold x {args.repeats}, "
                f"{seconds:.0f} s for {len(TYPING_MODELS)} models"
            )
            for model in TYPING_MODELS:
                rows = cv.summary.filter(pl.col("model") == model)
                cells = []
                for metric in METRICS:
                    row = rows.filter(pl.col("metric") == metric).row(0, named=True)
                    cells.append(f"{metric} {row['mean']:.3f} [{row['low']:.3f}, {row['high']:.3f}]")
                with_rna = pooled_metrics(cv.predictions, model, pl.col("has_expression"))
                without_rna = pooled_metrics(cv.predictions, model, ~pl.col("has_expression"))
                print(
                    f"  {model:20s} "
                    + "  ".join(cells)
                    + f"  | pooled AUC with RNA {with_rna['roc_auc_macro']:.3f} (n {with_rna['n']:.0f}),"
                    f" without {without_rna['roc_auc_macro']:.3f} (n {without_rna['n']:.0f})"
                )


if __name__ == "__main__":
    main()
