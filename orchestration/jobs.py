"""Jobs: the refresh of one GDC release, the catalog publish, and the GDC freshness check."""

from dagster import AssetCheckKey, AssetKey, AssetSelection, define_asset_job

from assets.partitions import gdc_releases
from assets.warehouse import CATALOG_KEY

# Everything that is built per release (the catalog is global and published afterwards).
RELEASE_LAYERS = ("raw", "harmonised", "features", "models", "scores")
FRESHNESS_CHECK_KEY = AssetCheckKey(AssetKey(["gdc_release"]), "gdc_release_is_current")

refresh_release_job = define_asset_job(
    name="refresh_gdc_release",
    # The freshness check compares GDC with what is published: it runs on its own, not inside a refresh.
    selection=AssetSelection.groups(*RELEASE_LAYERS) - AssetSelection.checks(FRESHNESS_CHECK_KEY),
    partitions_def=gdc_releases,
    description="Fetch, harmonise, model and score one GDC data release (the catalog is republished after it).",
    tags={"glioma/job": "release_refresh"},
)

publish_catalog_job = define_asset_job(
    name="publish_catalog",
    selection=AssetSelection.assets(CATALOG_KEY),
    description="Republish the analysts' DuckDB catalog over every release whose tables are all written.",
)

check_gdc_freshness_job = define_asset_job(
    name="check_gdc_freshness",
    selection=AssetSelection.checks(FRESHNESS_CHECK_KEY),
    description="Fail when GDC's /status is ahead of the newest materialised release.",
)

JOBS = [refresh_release_job, publish_catalog_job, check_gdc_freshness_job]
