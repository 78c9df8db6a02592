"""Warehouse layer: the analysts' DuckDB catalog, one file for every release.

The catalog is global, so its asset is unpartitioned and depends on every table of every release; it
publishes the releases whose tables are all written (warehouse.catalog) and is rerun after each refresh
(orchestration/sensors.py) or on its own from the UI.
"""

import sys

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

import warehouse.analytics
import warehouse.catalog
import warehouse.views
from assets.resources import LakeResource
from assets.specs import OWNERS, asset_key, source_version
from contracts.tables import CATALOG_TABLES
from warehouse.catalog import publish_catalog

# The registry copy in the catalog comes from the model assets (not lake tables).
MODEL_KEYS = [AssetKey(["models", "grading_model"]), AssetKey(["models", "survival_model"])]
CATALOG_KEY = AssetKey(["warehouse", "catalog"])
CATALOG_PUBLISH_POOL = "catalog_publish"


@asset(
    key=CATALOG_KEY,
    deps=[asset_key(table) for table in CATALOG_TABLES] + MODEL_KEYS,
    group_name="warehouse",
    kinds={"duckdb"},
    owners=OWNERS["warehouse"],
    tags={"layer": "warehouse"},
    # Publishes commit one after another: a flock does that on one host; across hosts (k8s step pods, an
    # object-store lake) the instance's pool limit does (docs/deployment.md: limit 1).
    pool=CATALOG_PUBLISH_POOL,
    code_version=source_version(warehouse.catalog, warehouse.views, warehouse.analytics, sys.modules[__name__]),
    description=(
        "DuckDB catalog (<data>/warehouse.duckdb): views over every lake table of the published releases, "
        "`<table>_current` views of the newest one, the analysts' views and the model registry; republished by "
        "atomic rename. A release is published once all of its tables are written."
    ),
)
def analytics_catalog(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    published = publish_catalog(lake.lake, lake.catalog_path, registry_path=lake.registry_path)
    context.log.info(
        f"catalog {published.path}: releases {', '.join(published.releases) or 'none'}; "
        f"{len(published.views)} views, {len(published.tables)} tables"
        + (f"; withheld {published.withheld_releases}" if published.withheld_releases else "")
    )
    return MaterializeResult(
        metadata={
            "catalog": MetadataValue.path(str(published.path)),
            "published_releases": ", ".join(published.releases) or "none",
            "newest_release": published.newest_release or "none",
            "withheld_releases": MetadataValue.json(published.withheld_releases),
            "views": MetadataValue.md("\n".join(f"- `{name}`" for name in published.views)),
            "tables": len(published.tables),
            "query_example": MetadataValue.md(
                f'```\n.venv/bin/duckdb -readonly {published.path} "select * from scores.grading_current limit 5"\n```'
            ),
        }
    )
