"""Operations tables: written by sensors, not by asset steps, but declared as assets so the UI shows
their lineage, columns and description like every other table."""

from __future__ import annotations

from dagster import AssetSpec

from assets.specs import OWNERS, asset_key, table_metadata
from contracts.tables import OPS_RUN_FAILURES

run_failures = AssetSpec(
    key=asset_key(OPS_RUN_FAILURES),
    description=OPS_RUN_FAILURES.description,
    group_name="ops",
    kinds={"parquet"},
    owners=OWNERS["ops"],
    tags={"layer": "ops"},
    metadata=table_metadata(OPS_RUN_FAILURES),
)

OPS_ASSETS = [run_failures]
