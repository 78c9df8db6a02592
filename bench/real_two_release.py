"""Prospective validation and the fair champion/challenger decision on REAL TCGA patients.

    python bench/real_two_release.py                 # 5 x 5 CV (the production setting)
    python bench/real_two_release.py --splits 3 --repeats 1
    python bench/real_two_release.py --rna          # the dev bundle with RNA-seq: typing on expression too

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
    defs = build_definitions(
        {
            "gdc": GdcApiResource(base_url=server.base_url),
            "lake": LakeResource(data_dir=str(data_dir)),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(
                n_splits=args.splits, n_repeats=args.repeats, survival_baselines=False
            ),
        }
    )
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
        server.set_release(real.second_release)
        run("refresh_gdc_release", real.second_release)
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
    print(f"\nchampion/challenger decisions for release {real.second_release} ({args.splits}x{args.repeats} CV):")
    for row in registry.filter(pl.col("training_release") == real.second_release).iter_rows(named=True):
        comparison = json.loads(row["comparison"]) if row["comparison"] else {}
        print(f"  {row['task']:<20} {row['status']:<10} {row['decision_reason']}")
        if comparison.get("new_patients"):
            print(f"  {'':<20} new patients: {comparison['new_patients']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
