"""The Dagster code location: assembled here, and only here, from the asset modules (which never import
orchestration/). Configuration comes from the environment when a run or tick starts (EnvVar), never
when this module is imported:

    GDC_BASE_URL     the GDC API root (the live API, or the local stand-in) — required, explicit
    GLIOMA_DATA_DIR  where the lake, catalog, models and reports live — required
    GDC_TOKEN / GDC_TOKEN_FILE  optional, read only when a GDC client is built
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions, EnvVar, ExecutorDefinition

from assets.checks import build_all_quality_checks, gdc_release_is_current, raw_cases_reconcile
from assets.expression import EXPRESSION_ASSETS, EXPRESSION_CHECKS
from assets.expression_analyses import EXPRESSION_ANALYSIS_ASSETS
from assets.harmonised import HARMONISED_ASSETS
from assets.models import MODEL_ASSETS
from assets.ops import OPS_ASSETS
from assets.raw import RAW_ASSETS
from assets.reports import REPORT_ASSETS
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from assets.scores import SCORE_ASSETS, SCORE_CHECKS
from assets.typing import TYPING_ASSETS
from assets.warehouse import analytics_catalog
from orchestration.jobs import JOBS
from orchestration.schedules import SCHEDULES
from orchestration.sensors import SENSORS

# Built per GDC release (partitioned), and the global rest.
RELEASE_ASSETS = [
    *RAW_ASSETS,
    *EXPRESSION_ASSETS,
    *HARMONISED_ASSETS,
    *MODEL_ASSETS,
    *SCORE_ASSETS,
    *TYPING_ASSETS,
    *EXPRESSION_ANALYSIS_ASSETS,
    *REPORT_ASSETS,
]
RELEASE_CHECKS = [*build_all_quality_checks(), raw_cases_reconcile, *EXPRESSION_CHECKS, *SCORE_CHECKS]
ALL_ASSETS = [*RELEASE_ASSETS, analytics_catalog, *OPS_ASSETS]
ALL_CHECKS = [*RELEASE_CHECKS, gdc_release_is_current]


def resources_from_environment() -> dict[str, Any]:
    """Resources whose settings Dagster resolves from the environment at run time."""
    return {
        "gdc": GdcApiResource(base_url=EnvVar("GDC_BASE_URL")),
        "lake": LakeResource(data_dir=EnvVar("GLIOMA_DATA_DIR")),
        "gene_panels": GenePanelResource(),
        "model_training": ModelTrainingResource(),
    }


def build_definitions(
    resources: dict[str, Any] | None = None, *, executor: ExecutorDefinition | None = None
) -> Definitions:
    """The code location; tests and the offline runner pass concrete resources instead of EnvVars.
    `executor`: for the jobs that do not choose their own (training, publish, freshness), e.g. the Kubernetes
    code location's k8s_job_executor (orchestration/deployment_k8s.py); the refresh keeps its own."""
    return Definitions(
        executor=executor,
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=JOBS,
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources=resources if resources is not None else resources_from_environment(),
    )


defs = build_definitions()
