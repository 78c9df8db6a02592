"""Running the platform beyond one machine: the Dagster instance on PostgreSQL, steps and runs in parallel,
and the Kubernetes code location.

* `orchestration/deploy/dagster-postgres.yaml` — the instance: run, event and schedule storage on
  PostgreSQL (dagster-postgres; connection from `DAGSTER_PG_*` environment variables), run monitoring
  (a run whose worker died is marked failed), the run queue and the `gdc_api` pool limit.
* `PARALLEL_RUN_CONFIG` — run config that puts each step of the release refresh in its own process, at most
  `max_concurrent` at a time (the default is one process: faster on 2 cores, see orchestration/jobs.py); the
  step processes are forked from a server that has imported the code location and Great Expectations once.
* `orchestration.deployment_k8s` — the code location for Kubernetes: `k8s_job_executor` (a pod per step)
  for the training, publish and freshness jobs; the refresh runs in its run's pod (K8sRunLauncher in
  `orchestration/deploy/k8s/dagster.yaml`). See docs/deployment.md.
* `parallel_refresh_job(...)` — a reconstructable refresh job with concrete resources, so the multiprocess
  executor's step processes can rebuild it (tests, benchmarks, a one-off run outside a code location).
"""

from __future__ import annotations

from typing import Any

from dagster import JobDefinition, build_reconstructable_job
from dagster._core.definitions.reconstruct import ReconstructableJob

# Imported once by the forkserver, then inherited by every step process it forks: a spawned step would import
# Dagster and the code location (1.7 s) and, for a step with checks, Great Expectations (4.5 s) all over again.
# quality.runner imports GX only when it validates (the code location loads without it), so GX is named here,
# as are the model and plotting libraries the scoring and report steps import when they run.
STEP_PRELOAD_MODULES: tuple[str, ...] = (
    "orchestration.definitions",
    "quality.runner",
    "great_expectations",
    "great_expectations.expectations",
    "lightgbm",
    "matplotlib.pyplot",
    "polars",
    "duckdb",
    "pyarrow",
)


def parallel_run_config(max_concurrent: int = 2) -> dict[str, Any]:
    return {
        "execution": {
            "config": {
                "multiprocess": {
                    "max_concurrent": max_concurrent,
                    "start_method": {"forkserver": {"preload_modules": list(STEP_PRELOAD_MODULES)}},
                }
            }
        }
    }


PARALLEL_RUN_CONFIG = parallel_run_config()


def job_with_resources(
    job_name: str, base_url: str, data_dir: str, n_splits: int = 2, n_repeats: int = 1
) -> JobDefinition:
    """A job of the code location bound to concrete resources (called again in every step process)."""
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
    from orchestration.definitions import build_definitions

    defs = build_definitions(
        {
            "gdc": GdcApiResource(base_url=base_url, backoff_factor=0.05),
            "lake": LakeResource(data_dir=data_dir),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(
                n_splits=n_splits, n_repeats=n_repeats, survival_baselines=False, classifier_baselines=False
            ),
        }
    )
    return defs.resolve_job_def(job_name)


def reconstructable_job(
    job_name: str, base_url: str, data_dir: str, n_splits: int = 2, n_repeats: int = 1
) -> ReconstructableJob:
    return build_reconstructable_job(
        "orchestration.deployment",
        "job_with_resources",
        reconstructable_args=(job_name, base_url, data_dir, n_splits, n_repeats),
    )
