"""What each model recipe costs to cross-validate at TCGA size (the real dev cohort: ~780 patients, 410 with RNA-seq).

    python bench/recipe_costs.py --data-dir DIR [--release 45.0] [--splits 5] [--repeats 5]

DIR is a data directory the refresh wrote for tcga_gbmlgg_dev_rna (e.g. `tests/worlds.py::real_rna_lake`). Prints
the seconds of each typing recipe of models/typing_comparison (one repeat of the folds, as that asset runs), of the
registry typing recipe and of each grading baseline on the registry's splits x repeats, and the macro AUC / AUC each
reached. One process, one thread per model (the CI and the test machines have 2 cores).
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
from contracts.features import GBM_VS_LGG  # noqa: E402
from contracts.tables import HARMONISED_MOLECULAR_MARKERS, HARMONISED_PATIENTS  # noqa: E402
from lake.store import Lake  # noqa: E402
from models.grading import grading_data  # noqa: E402
from models.grading_baselines import GRADING_BASELINES, cross_validate_grading_baselines  # noqa: E402
from models.molecular_typing import cross_validate_typing, typing_frame  # noqa: E402
from models.typing_pipeline import COMPARED_RECIPES, REGISTRY_RECIPE, recipe_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--release", default="45.0")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    store = Lake(args.data_dir)
    frame = typing_frame(
        store.read_table(HARMONISED_PATIENTS, args.release),
        store.read_table(HARMONISED_MOLECULAR_MARKERS, args.release),
    )
    expression = read_matrix(store, args.release)
    print(f"typing: {frame.filter(pl.col('molecular_type').is_not_null()).height} labelled patients")
    plans = [(recipe, args.splits, 1) for recipe in COMPARED_RECIPES]
    plans.append((REGISTRY_RECIPE, args.splits, args.repeats))
    for recipe, splits, repeats in plans:
        data = recipe_data(frame, expression, recipe)
        started = time.monotonic()
        cv = cross_validate_typing(data, (recipe.model,), n_splits=splits, n_repeats=repeats)
        seconds = time.monotonic() - started
        auc = cv.summary.filter(pl.col("metric") == "roc_auc_macro")["mean"][0]
        print(f"  {recipe.label:<75} {splits}x{repeats} CV {seconds:6.1f} s   macro AUC {auc:.3f}")
    matrix = store.read("features", "model_matrix", args.release)
    features = store.read("features", "feature_list", args.release).filter(pl.col("task") == GBM_VS_LGG)
    data = grading_data(matrix, features.sort("position")["feature"].to_list(), GBM_VS_LGG)
    print(f"grading baselines: {data.case_ids.size} patients, {len(features)} features")
    for model in GRADING_BASELINES:
        started = time.monotonic()
        board = cross_validate_grading_baselines(
            data, n_splits=args.splits, n_repeats=args.repeats, seed=20261122, models=(model,)
        )
        seconds = time.monotonic() - started
        auc = board.filter(pl.col("metric") == "roc_auc")["mean"][0]
        print(f"  {model:<75} {args.splits}x{args.repeats} CV {seconds:6.1f} s   AUC {auc:.3f}")


if __name__ == "__main__":
    main()
