"""Prospective validation and the fair champion/challenger decision on REAL TCGA patients.

    python bench/real_two_release.py                 # 5 x 5 CV (the production setting)
    python bench/real_two_release.py --splits 3 --repeats 1
    python bench/real_two_release.py --rna          # the dev bundle with RNA-seq: typing on expression too
    python bench/real_two_release.py --rna --first-without-omics
                                                    # 45.0 champions without the omics features (signatures,
                                                    # predicted markers): "before"; 46.0 challengers with them,
                                                    # judged on the same folds

Builds (outside the repository) a two-release root from ../shared/realdata/bundles/tcga_gbmlgg_dev:
release 45.0 holds a seeded 70% of the 777 cases, 46.0 all of them (sandbox/real_two_release.py).
Runs what the sensors run: 45.0 refresh + challengers (the first champions), then 46.0 refresh (score
first: the 45.0 champions score the 233 new patients) and 46.0 challengers (judged on the same folds).
Prints the latency of the 46.0 scores, the champions' prospective metrics with 95% intervals, and the
promotion decisions with their paired differences.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
SHARED = Path(os.environ.get("GLIOMA_SHARED_DIR", REPO_ROOT.parent / "shared"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rna", action="store_true", help="use tcga_gbmlgg_dev_rna (the same plus expression)")
    parser.add_argument("--first-without-omics", action="store_true", help="train 45.0 without the omics features")
    args = parser.parse_args(argv)
    source = SHARED / "realdata" / "bundles" / ("tcga_gbmlgg_dev_rna" if args.rna else "tcga_gbmlgg_dev")
    if not source.exists():
        print(f"real dev bundle not found at {source}", file=sys.stderr)
        return 2

    import duckdb
    import polars as pl
    from dagster import DagsterInstance

    from assets.partitions import gdc_releases
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
    from orchestration.definitions import build_definitions
    from sandbox.gdc_standin import GdcStandIn
    from sandbox.real_two_release import write_real_two_release_root

    work = Path(tempfile.mkdtemp(prefix="glioma-real-two-release-"))
    real = write_real_two_release_root(source, work / "root")
    print(
        f"root {real.root}: {len(real.first_case_ids)} cases in {real.first_release}, "
        f"{len(real.new_case_ids)} new in {real.second_release}"
    )
    data_dir = work / "data"
    server = GdcStandIn(real.root, port=0)
    server.start()
    from contracts.features import FEATURE_SETS, OMICS_FEATURES

    def definitions(without_omics: bool):
        features = {task: [f for f in names if f not in OMICS_FEATURES] for task, names in FEATURE_SETS.items()}
        return build_definitions(
            {
                "gdc": GdcApiResource(base_url=server.base_url),
                "lake": LakeResource(data_dir=str(data_dir)),
                "gene_panels": GenePanelResource(),
                "model_training": ModelTrainingResource(
                    n_splits=args.splits,
                    n_repeats=args.repeats,
                    survival_baselines=False,
                    classifier_baselines=False,
                    challenger_feature_sets=features if without_omics else {},
                ),
            }
        )

    defs = definitions(args.first_without_omics)
    instance = DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    timings = {}

    def run(job: str, release: str) -> None:
        if not instance.has_dynamic_partition(gdc_releases.name, release):
            instance.add_dynamic_partitions(gdc_releases.name, [release])
        began = time.monotonic()
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=release, instance=instance, raise_on_error=False, run_config=quiet
        )
        timings[(release, job)] = time.monotonic() - began
        print(f"  {release} {job:<20} {timings[(release, job)]:6.1f}s", flush=True)
        if not result.success:
            raise SystemExit(f"{job} {release} failed")

    try:
        server.set_release(real.first_release)
        run("refresh_gdc_release", real.first_release)
        run("train_challengers", real.first_release)
        defs = definitions(False)
        server.set_release(real.second_release)
        run("refresh_gdc_release", real.second_release)
        new_patients = by_expression(data_dir, real.second_release, real.new_case_ids)
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as catalog:
            prospective = pl.from_arrow(
                catalog.execute(
                    "select task, cohort, metric, value, ci_low, ci_high, n, n_events, cv_low, cv_high, below_cv_interval "
                    "from models.prospective_validation_current order by task, cohort, metric"
                ).arrow()
            )
        run("train_challengers", real.second_release)
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as catalog:
            registry = pl.from_arrow(
                catalog.execute(
                    "select task, model_version, training_release, status, decision_reason, comparison "
                    "from registry.models order by task, created_at"
                ).arrow()
            )
    finally:
        server.stop()

    pl.Config.set_tbl_rows(100)
    pl.Config.set_tbl_cols(20)
    pl.Config.set_fmt_str_lengths(60)
    print(
        f"\nscore first: release {real.second_release} scored by the {real.first_release} champions and published in "
        f"{timings[(real.second_release, 'refresh_gdc_release')]:.1f}s (in-process run, 2 cores)"
    )
    print(f"\nprospective validation of the {real.first_release} champions on release {real.second_release}:")
    print(prospective.filter(pl.col("value").is_not_null()).with_columns(pl.col(pl.Float64).round(3)))
    print("\nthe same champions on the new patients with and without expression (bootstrap 95% intervals):")
    print(new_patients)
    print(f"\nchampion/challenger decisions for release {real.second_release} ({args.splits}x{args.repeats} CV):")
    for row in registry.filter(pl.col("training_release") == real.second_release).iter_rows(named=True):
        comparison = json.loads(row["comparison"]) if row["comparison"] else {}
        print(f"  {row['task']:<20} {row['status']:<10} {row['decision_reason']}")
        if comparison.get("new_patients"):
            print(f"  {'':<20} new patients: {comparison['new_patients']}")
    return 0


def by_expression(data_dir: Path, release: str, new_case_ids):
    """GBM-vs-LGG AUC and Harrell's C of the current champions' scores on the new patients, split by whether they
    have expression (signatures in the model matrix)."""
    import numpy as np
    import polars as pl
    from sklearn.metrics import roc_auc_score
    from sksurv.metrics import concordance_index_censored

    from lake.store import Lake

    lake = Lake(data_dir)
    matrix = lake.read("features", "model_matrix", release).filter(pl.col("case_id").is_in(list(new_case_ids)))
    matrix = matrix.with_columns(pl.col("signature_g2m_checkpoint").is_not_null().alias("has_expression"))
    catalog = data_dir / "warehouse.duckdb"
    import duckdb

    with duckdb.connect(str(catalog), read_only=True) as connection:
        grading = connection.execute("select case_id, grade_probability_gbm from scores.grading_current").pl()
        survival = connection.execute("select case_id, survival_risk_score from scores.survival_risk_current").pl()
    rows = matrix.join(grading, on="case_id").join(survival, on="case_id")
    rng = np.random.default_rng(1)
    out = []
    for has in (True, False):
        part = rows.filter(pl.col("has_expression") == has)
        graded = part.filter(pl.col("label_gbm").is_not_null())
        timed = part.filter(pl.col("overall_survival_days") > 0, pl.col("death_observed").is_not_null())

        def auc(index, graded=graded):
            y = graded["label_gbm"].to_numpy()[index]
            return roc_auc_score(y, graded["grade_probability_gbm"].to_numpy()[index]) if len(set(y)) == 2 else np.nan

        def c_index(index, timed=timed):
            t = timed.select("death_observed", "overall_survival_days", "survival_risk_score").to_numpy()[index]
            return concordance_index_censored(t[:, 0].astype(bool), t[:, 1].astype(float), t[:, 2].astype(float))[0]

        for metric, frame, fn in (("roc_auc_gbm", graded, auc), ("harrell_c", timed, c_index)):
            n = frame.height
            if n < 10:
                continue
            draws = [fn(rng.integers(0, n, n)) for _ in range(500)]
            out.append(
                {
                    "has_expression": has,
                    "metric": metric,
                    "value": round(float(fn(np.arange(n))), 3),
                    "ci_low": round(float(np.nanpercentile(draws, 2.5)), 3),
                    "ci_high": round(float(np.nanpercentile(draws, 97.5)), 3),
                    "n": n,
                }
            )
    return pl.DataFrame(out)


if __name__ == "__main__":
    raise SystemExit(main())
