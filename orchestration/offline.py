"""Run the whole platform offline: synthetic cohort -> local GDC stand-in -> every asset, one release.

    python -m orchestration.offline --cases 1100 --seed 7

Generates a synthetic GDC bundle (once), serves it with the stand-in on a free 127.0.0.1 port, adds
the served data release as a partition in the Dagster instance ($DAGSTER_HOME, so `dagster dev`
shows the run afterwards), runs the `refresh_gdc_release` job for it and publishes the catalog.
No environment variable is set: the definitions get their resources passed in.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def offline_resources(base_url: str, data_dir: Path) -> dict:
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource

    return {
        "gdc": GdcApiResource(base_url=base_url),
        "lake": LakeResource(data_dir=str(data_dir)),
        "gene_panels": GenePanelResource(),
        "model_training": ModelTrainingResource(),
    }


def refresh_once(base_url: str, data_dir: Path, *, train: bool = True):
    """Run `refresh_gdc_release` for the release GDC serves (score first, publish), then
    `train_challengers` — what the release sensor and the train-after-refresh sensor start in `dagster
    dev`, here in this process. Returns (last result, release, seconds, seconds to published scores)."""
    from dagster import DagsterInstance

    from assets.partitions import gdc_releases
    from gdc.client import GdcClient
    from orchestration.definitions import build_definitions

    defs = build_definitions(offline_resources(base_url, data_dir))
    release = GdcClient(base_url=base_url).status().data_release_label
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    # Step-level progress, not every engine event: the UI (make ui) has the full event log.
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    started = time.monotonic()
    result = defs.resolve_job_def("refresh_gdc_release").execute_in_process(
        partition_key=release,
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags={"glioma/release": release, "glioma/trigger": "offline"},
    )
    scored_after = time.monotonic() - started
    # What the train-after-refresh and analyse-after-training sensors start in `dagster dev`.
    for job in ("train_challengers", "analyse_expression") if train else ():
        if not result.success:
            break
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=release,
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            tags={"glioma/release": release, "glioma/trigger": "offline"},
        )
    return result, release, time.monotonic() - started, scored_after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1100, help="synthetic cases (TCGA GBM+LGG is about 1,100)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--expression-genes",
        type=int,
        default=2000,
        help="genes per synthetic RNA-seq file (GDC's have 60,660; 2,000 keeps the demo bundle ~250 MB); 0 = none",
    )
    parser.add_argument("--bundle-root", type=Path, default=None, help="serve this bundle instead of a synthetic one")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("GLIOMA_DATA_DIR", "data")))
    args = parser.parse_args(argv)

    from sandbox.gdc_standin import GdcStandIn
    from sandbox.synthetic import CohortSpec, write_bundle
    from sandbox.synthetic.next_release import write_spec

    data_dir = args.data_dir.resolve()
    bundle_root = args.bundle_root
    if bundle_root is None:
        bundle_root = data_dir / "bundles" / f"synthetic-{args.cases}-seed{args.seed}"
        if not (bundle_root / "CURRENT").exists():
            started = time.monotonic()
            spec = CohortSpec(n_cases=args.cases, seed=args.seed, expression_genes=args.expression_genes)
            write_bundle(bundle_root, spec)
            write_spec(bundle_root, spec)  # lets `python -m sandbox.synthetic.next_release` continue the cohort
            print(
                f"wrote synthetic GDC bundle ({args.cases} cases) to {bundle_root} in {time.monotonic() - started:.1f}s"
            )

    with GdcStandIn(bundle_root.resolve(), port=0) as server:
        print(f"GDC stand-in serving {bundle_root} at {server.base_url}")
        result, release, elapsed, scored_after = refresh_once(server.base_url, data_dir)

    catalog = data_dir / "warehouse.duckdb"
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
        print(
            f"refresh of release {release} FAILED after {elapsed:.0f}s; failed steps: {', '.join(failed)}",
            file=sys.stderr,
        )
        return 1
    print(
        f"\nrelease {release}: refresh run (scored by the champions when there are any) done in {scored_after:.0f}s, "
        f"challengers trained, judged and scores published, expression analysed by {elapsed:.0f}s\n"
        f"  lake (Parquet):   {data_dir / 'lake'}/<layer>/<table>/release={release}/part-<time_ns>-<run id>.parquet (published versions: lake/_manifest.json)\n"
        f"  catalog (DuckDB): {catalog}\n"
        f"  report (HTML):    {data_dir / 'reports' / release / 'index.html'}\n"
        f"  GX Data Docs:     {data_dir / 'reports' / release / 'gx' / 'index.html'}\n"
        f"query it, read-only:\n"
        f'  .venv/bin/glioma sql "select predicted_class, risk_group, count(*) from scores.grading_current '
        f'join scores.survival_risk_current using (case_id) group by all order by all"\n'
        f"  .venv/bin/glioma tables            # every view with its comment\n"
        f"  .venv/bin/glioma gene EGFR         # a gene: expression by class, differential expression, survival\n"
        f"  .venv/bin/duckdb -readonly {catalog}\n"
        f"see the runs, partitions, checks and sensors: make ui   (then `make next-release` publishes release N+1)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
