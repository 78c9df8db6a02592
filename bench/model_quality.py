"""Model quality on the real TCGA GBM+LGG dev bundle: the pipeline's own training (models.pipeline.
train_task: repeated stratified k-fold CV with inner-CV hyperparameters and calibration, then the final
fit) for every task, printed as one CV table (mean ± std, min..max over folds) next to published
references and the project's targets.

    python bench/model_quality.py                 # 5x5 CV (the reported figures)
    python bench/model_quality.py --repeats 1     # quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _real_dev import real_dev_model_matrix  # noqa: E402

from models.grading import GBM_VS_LGG, WHO_GRADE, GradingData, cross_validate_grading, grading_data  # noqa: E402
from models.metrics import binary_classification_metrics, expected_calibration_error  # noqa: E402
from models.pipeline import TrainedModel, train_task  # noqa: E402
from models.survival import SURVIVAL_RISK, cross_validate_survival, survival_data  # noqa: E402

PUBLISHED_REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("GBM vs LGG accuracy", "0.876", "Tasci et al. 2022 (20 genes + clinical, UCI table)"),
    ("grade II/III/IV AUC", "0.925", "Pathomic Fusion 2020 (with histology)"),
    ("survival C-index", "0.777", "Cox on grade + IDH/1p19q (Pathomic Fusion 2020 baseline)"),
    ("survival C-index", "0.808", "Genomic SNN (Pathomic Fusion 2020)"),
    ("survival C-index", "0.826", "Pathomic Fusion 2020 (with histology)"),
)

# (task, model, metric, target, higher is better)
TARGETS: tuple[tuple[str, str, str, float, bool], ...] = (
    (GBM_VS_LGG, f"lightgbm_{GBM_VS_LGG}", "roc_auc", 0.98, True),
    (GBM_VS_LGG, f"lightgbm_{GBM_VS_LGG}", "ece", 0.03, False),
    (GBM_VS_LGG, f"lightgbm_{GBM_VS_LGG}_pooled_oof", "ece", 0.03, False),
    (SURVIVAL_RISK, "lightgbm_cox", "harrell_c", 0.83, True),
    (SURVIVAL_RISK, "lightgbm_cox", "integrated_brier", 0.12, False),
)


def _summaries(trained: TrainedModel) -> pl.DataFrame:
    parts = [trained.cv.summary]
    pooled = getattr(trained.cv, "pooled_summary", None)
    if pooled is not None:
        parts.append(pooled)
    return pl.concat(parts).with_columns(pl.lit(trained.task).alias("task"))


def _print_table(table: pl.DataFrame) -> None:
    print(f"{'task':<20} {'model':<38} {'metric':<18} {'mean ± std':>17} {'min..max':>15} {'folds':>5}")
    for row in table.iter_rows(named=True):
        spread = f"{row['mean']:.4f} ± {row['std'] if row['std'] is not None else 0.0:.4f}"
        print(
            f"{row['task']:<20} {row['model']:<38} {row['metric']:<18} {spread:>17} "
            f"{row['min']:.3f}..{row['max']:.3f} {row['folds']:>5}"
        )


def _leakage_probes(inputs, gbm: TrainedModel, n_splits: int, seed: int) -> None:
    """Missing values carry provenance: in TCGA the cases without somatic-mutation or methylation data
    are GBM. Two probes show how much of the GBM-vs-LGG score that explains."""
    matrix = inputs.model_matrix.matrix.filter(pl.col("label_gbm").is_not_null())
    features = list(inputs.model_matrix.features(GBM_VS_LGG))
    data = grading_data(matrix, features, GBM_VS_LGG)
    missingness = matrix.select([pl.col(f).is_null().cast(pl.Float64).alias(f) for f in features]).to_numpy()
    probe = cross_validate_grading(
        GradingData(data.case_ids, missingness, data.label_index, features, []),
        GBM_VS_LGG,
        n_splits=n_splits,
        n_repeats=1,
        seed=seed,
    )
    auc = probe.summary.filter(pl.col("metric") == "roc_auc")["mean"].item()
    print(f"  missingness pattern only (which values are null, no values): ROC AUC {auc:.4f}")
    # Where the errors are: histological labels that contradict the molecular class (IDH-wildtype
    # "LGG", IDH-mutant "GBM") — markers cannot recover a label that histology alone decided.
    errors = (
        gbm.cv.out_of_fold.filter(pl.col("repeat") == 0)
        .join(matrix.select("case_id", "idh_mutant"), on="case_id")
        .with_columns(((pl.col("probability_gbm") >= 0.5).cast(pl.Int64) != pl.col("label_index")).alias("wrong"))
        .group_by("label_index", "idh_mutant")
        .agg(pl.len().alias("cases"), pl.col("wrong").sum().alias("misclassified"))
        .sort("label_index", "idh_mutant")
    )
    for row in errors.iter_rows(named=True):
        idh = {1.0: "IDH-mutant", 0.0: "IDH-wildtype", None: "IDH unknown"}[row["idh_mutant"]]
        print(
            f"  {'GBM' if row['label_index'] == 1 else 'LGG'} {idh:<13} {row['cases']:>4} cases, {row['misclassified']:>3} misclassified (repeat 1)"
        )
    complete = matrix.filter(
        pl.col("idh_mutant").is_not_null()
        & pl.col("codeletion_1p19q").is_not_null()
        & pl.col("mgmt_stp27_probability").is_not_null()
    )["case_id"]
    oof = gbm.cv.out_of_fold.filter(pl.col("case_id").is_in(complete.implode()))
    per_repeat = [
        binary_classification_metrics(part["label_index"].to_numpy(), part["probability_gbm"].to_numpy())
        for _, part in oof.group_by("repeat")
    ]
    print(
        f"  cases with IDH, 1p/19q and MGMT all measured (n={complete.len()}): pooled OOF ROC AUC "
        f"{np.mean([m['roc_auc'] for m in per_repeat]):.4f}, accuracy {np.mean([m['accuracy'] for m in per_repeat]):.4f}"
    )


def _ece_noise_floor(gbm: TrainedModel, n_splits: int, simulations: int = 200, seed: int = 0) -> float:
    """Per-fold ECE that even a perfectly calibrated model shows at this fold size: draw outcomes from
    the model's own out-of-fold probabilities (so they are calibrated by construction), split into
    folds as the CV does, and average the per-fold ECE."""
    rng = np.random.default_rng(seed)
    probability = gbm.cv.out_of_fold.filter(pl.col("repeat") == 0)["probability_gbm"].to_numpy()
    values = []
    for _ in range(simulations):
        outcome = (rng.random(probability.size) < probability).astype(float)
        fold_of = rng.permutation(probability.size) % n_splits
        values.extend(
            expected_calibration_error(probability[fold_of == k], outcome[fold_of == k]) for k in range(n_splits)
        )
    return float(np.mean(values))


def _survival_ablation(inputs, n_splits: int, seed: int) -> None:
    """The survival feature set leaves treatment flags out: they carry immortal-time bias (a patient who
    dies within weeks never starts radiotherapy). Show what they would add, and the model without WHO grade."""
    features = list(inputs.model_matrix.features(SURVIVAL_RISK))
    treatments = ["received_radiation", "received_temozolomide", "received_chemotherapy"]
    variants = {
        "as used (no treatment flags)": features,
        "with treatment flags (biased, not used)": features + treatments,
        "without WHO grade": [f for f in features if f != "who_grade"],
    }
    for name, subset in variants.items():
        result = cross_validate_survival(
            survival_data(inputs.model_matrix.matrix, subset),
            n_splits=n_splits,
            n_repeats=1,
            seed=seed,
            baselines=False,
        )
        summary = result.summary
        pick = lambda metric, summary=summary: summary.filter(pl.col("metric") == metric)["mean"].item()  # noqa: E731
        print(
            f"  {name:<34} Harrell's C {pick('harrell_c'):.4f}, Uno's C {pick('uno_c'):.4f}, integrated Brier {pick('integrated_brier'):.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    inputs = real_dev_model_matrix()
    matrix = inputs.model_matrix.matrix
    print(
        f"real dev bundle, release {inputs.release}: {matrix.height} patients in the matrix "
        f"({inputs.patients_quarantine.select('case_id').n_unique()} quarantined by harmonisation), "
        f"feature set {inputs.model_matrix.feature_set_version}; built in {time.perf_counter() - started:.1f} s"
    )
    print(
        f"CV: {args.splits}-fold x {args.repeats} repeats, stratified on cases; inner 3-fold CV for grid, rounds, calibration\n"
    )

    trained: dict[str, TrainedModel] = {}
    timings: dict[str, float] = {}
    for task in (GBM_VS_LGG, WHO_GRADE, SURVIVAL_RISK):
        task_started = time.perf_counter()
        trained[task] = train_task(
            inputs.model_matrix,
            task,
            release=inputs.release,
            code_version="bench",
            n_splits=args.splits,
            n_repeats=args.repeats,
            seed=args.seed,
        )
        timings[task] = time.perf_counter() - task_started
        print(
            f"{task}: {trained[task].entry.training_rows} training rows, {len(trained[task].excluded_cases)} without "
            f"label/endpoint, {timings[task]:.1f} s, model version {trained[task].model_version}"
        )
    table = pl.concat([_summaries(t) for t in trained.values()]).select(
        "task", "model", "metric", "mean", "std", "min", "max", "folds"
    )
    print()
    _print_table(table)

    survival = trained[SURVIVAL_RISK].cv
    log_rank = survival.log_rank
    print(
        "\nrisk groups (cut points = tertiles of each training fold, repeat 1 out-of-fold): "
        + ", ".join(f"{k[2:]} {v}" for k, v in log_rank.items() if k.startswith("n_"))
        + f"; log-rank chi2 {log_rank['chi2']:.1f}, p = {log_rank['p_value']:.2e}"
    )
    print("\nglobal importance (gain share, final models):")
    for task, model in trained.items():
        top = model.importance.head(6)
        print(f"  {task}: " + ", ".join(f"{r['feature']} {r['gain_share']:.2f}" for r in top.iter_rows(named=True)))

    print("\nlabel-provenance probes (GBM vs LGG):")
    _leakage_probes(inputs, trained[GBM_VS_LGG], args.splits, args.seed)

    print(
        f"  per-fold ECE of a perfectly calibrated model with these probabilities at this fold size "
        f"(bin noise floor): {_ece_noise_floor(trained[GBM_VS_LGG], args.splits):.4f}"
    )

    print("\nablation (survival, LightGBM Cox only, same folds of repeat 1):")
    _survival_ablation(inputs, args.splits, args.seed)

    print("\npublished references on TCGA GBM+LGG (not the same cohort, features or protocol):")
    for what, value, source in PUBLISHED_REFERENCES:
        print(f"  {what:<22} {value:>6}  {source}")
    print("\ntargets on real data:")
    for _task, model, metric, target, higher in TARGETS:
        row = table.filter((pl.col("model") == model) & (pl.col("metric") == metric))
        value = row["mean"].item()
        met = value >= target if higher else value <= target
        print(
            f"  {model:<38} {metric:<18} {value:.4f} {'>=' if higher else '<='} {target:<5} {'met' if met else 'NOT met'}"
        )
    print(
        f"\ntotal {time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + ")"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
