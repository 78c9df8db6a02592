"""Warehouse layer: republish the analysts' DuckDB catalog once a release's tables are written."""


from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from orchestration.partitions import gdc_releases
from orchestration.resources import LakeResource
from warehouse.catalog import publish_catalog
from warehouse.views import ANALYST_VIEWS


def build_analytics_views_asset(upstream: Sequence[AssetsDefinition]) -> AssetsDefinition:
    @asset(
        key=["warehouse", "analytics_views"],
        deps=list(upstream),
        partitions_def=gdc_releases,
        group_name="warehouse",
        kinds={"duckdb"},
        description=(
            "DuckDB catalog (data/warehouse.duckdb) of views over every lake table, `<table>_current` views "
            "for the newest release and the analysts' views; republished by atomic rename."
        ),
    )
    def analytics_views(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
        published = publish_catalog(
            lake.lake, lake.catalog_path, registry_path=lake.registry_path, extra_views=ANALYST_VIEWS
        )
        context.log.info(f"catalog {published.path}: {len(published.views)} views, {len(published.tables)} tables")
        return MaterializeResult(
            metadata={
                "catalog": MetadataValue.path(str(published.path)),
                "views": MetadataValue.md("\n".join(f"- `{name}`" for name in published.views)),
                "tables": len(published.tables),
                "query_example": MetadataValue.md(
                    f"```\nduckdb -readonly {published.path} \"select * from harmonised.patients_current limit 5\"\n```"
                ),
            }
        )

    return analytics_views
