"""A refresh in its own process, so the reliability suite can kill it with SIGKILL (tests/reliability).

    python tests/reliability/refresh_process.py --base-url URL --data-dir DIR --release 46.0 \
        [--job refresh_gdc_release] [--job train_challengers]

The Dagster instance is $DAGSTER_HOME's (a killed run stays in it as a run record, as in production).
Prints one JSON line per job: {"job", "success", "run_id", "seconds"}; exits 1 if a job failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--job", action="append", default=None)
    args = parser.parse_args(argv)

    from dagster import DagsterInstance

    from assets.partitions import gdc_releases
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
    from orchestration.definitions import build_definitions

    defs = build_definitions(
        {
            "gdc": GdcApiResource(base_url=args.base_url, backoff_factor=0.01, max_retries=2, page_size=50),
            "lake": LakeResource(data_dir=str(args.data_dir)),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(
                n_splits=2, n_repeats=1, survival_baselines=False, classifier_baselines=False
            ),
        }
    )
    instance = DagsterInstance.get()
    if not instance.has_dynamic_partition(gdc_releases.name, args.release):
        instance.add_dynamic_partitions(gdc_releases.name, [args.release])
    ok = True
    for job in args.job or ["refresh_gdc_release"]:
        started = time.monotonic()
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=args.release,
            instance=instance,
            raise_on_error=False,
            tags={"glioma/release": args.release, "glioma/trigger": "reliability"},
        )
        print(
            json.dumps(
                {
                    "job": job,
                    "success": result.success,
                    "run_id": result.run_id,
                    "seconds": round(time.monotonic() - started, 2),
                }
            ),
            flush=True,
        )
        ok = ok and result.success
        if not result.success:
            break
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
