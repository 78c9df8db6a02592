"""The Dagster code location: every asset, check, job, sensor and resource of the glioma lakehouse."""

from __future__ import annotations

from dagster import Definitions

from assets.raw import RAW_ASSETS
from assets.warehouse import build_analytics_views_asset
from orchestration.jobs import refresh_release_job
from orchestration.resources import default_resources
from orchestration.sensors import gdc_release_sensor

analytics_views = build_analytics_views_asset(RAW_ASSETS)

defs = Definitions(
    assets=[*RAW_ASSETS, analytics_views],
    jobs=[refresh_release_job],
    sensors=[gdc_release_sensor],
    resources=default_resources(),
)
