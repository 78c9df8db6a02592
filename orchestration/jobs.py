"""Jobs: one refresh of every asset for one GDC release."""

from dagster import AssetSelection, define_asset_job

from orchestration.partitions import gdc_releases

refresh_release_job = define_asset_job(
    name="refresh_gdc_release",
    selection=AssetSelection.all(),
    partitions_def=gdc_releases,
    description="Fetch, harmonise, model and score one GDC data release, then republish the catalog.",
)
