"""The Dagster code location: every asset, check, job, sensor and resource of the glioma lakehouse."""

from dagster import Definitions

from assets.checks import build_all_quality_checks, raw_cases_reconcile
from assets.harmonised import HARMONISED_ASSETS
from assets.models import MODEL_ASSETS
from assets.raw import RAW_ASSETS, gdc_release
from assets.warehouse import build_analytics_views_asset
from orchestration.jobs import refresh_release_job
from orchestration.resources import default_resources
from orchestration.sensors import gdc_release_sensor

# Lake tables guarded by a Great Expectations suite (the status document has none).
QUALITY_GUARDED = [asset for asset in RAW_ASSETS if asset is not gdc_release] + HARMONISED_ASSETS

analytics_views = build_analytics_views_asset([*RAW_ASSETS, *HARMONISED_ASSETS, *MODEL_ASSETS])
ALL_ASSETS = [*RAW_ASSETS, *HARMONISED_ASSETS, *MODEL_ASSETS, analytics_views]
ALL_CHECKS = [*build_all_quality_checks(QUALITY_GUARDED), raw_cases_reconcile]

defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[refresh_release_job],
    sensors=[gdc_release_sensor],
    resources=default_resources(),
)
