"""Nothing redone without cause: a release whose expression, labels and code equal the previous release's copies
that release's analysis tables (no DESeq2, GSEA, ssGSEA or Cox is run), and a changed input recomputes exactly the
tables that depend on it. Real Dagster runs on a copy of the real dev RNA lake with a release 45.1 whose inputs are
45.0's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, instance_for_test, materialize

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from contracts.analysis_tables import ANALYSIS_TABLES
from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    SCORES_SURVIVAL_RISK,
)
from lake.store import LEGACY_PART_FILE, Lake
from lake.writes import write_parquet_atomic
from orchestration.definitions import ALL_ASSETS

pytestmark = pytest.mark.realdata
INPUTS = (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_PATIENTS,
    HARMONISED_MOLECULAR_MARKERS,
    SCORES_SURVIVAL_RISK,
)


def _analyse(data_dir: Path, instance) -> dict[str, str]:
    result = materialize(
        ALL_ASSETS,
        selection=[AssetKey(table.key) for table in ANALYSIS_TABLES],
        partition_key="45.1",
        instance=instance,
        resources={
            "lake": LakeResource(data_dir=str(data_dir)),
            "gdc": GdcApiResource(base_url="http://127.0.0.1:9"),  # not called: no GDC asset is selected
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(),
        },
    )
    assert result.success
    return {
        "/".join(event.asset_key.path): event.materialization.metadata["copied_from_release"].value
        for event in result.get_asset_materialization_events()
    }


def test_an_unchanged_release_copies_its_results_and_a_changed_input_recomputes_only_its_tables(
    real_rna_lake: Path, tmp_path: Path
):
    data_dir = tmp_path / "data"
    shutil.copytree(real_rna_lake, data_dir)
    store = Lake(data_dir, finished=lambda writer: True)
    for table in INPUTS:  # release 45.1 = 45.0's very files (a pre-versioning part file is readable as is)
        target = store.partition_dir(table.layer, table.name, "45.1") / LEGACY_PART_FILE
        Path(target).parent.mkdir(parents=True)
        shutil.copyfile(store.table_path(table.layer, table.name, "45.0"), target)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(gdc_releases.name, ["45.1"])
        copied = _analyse(data_dir, instance)
        assert copied == {table.path: "45.0" for table in ANALYSIS_TABLES}
        for table in ANALYSIS_TABLES:
            before = store.read_table(table, "45.0").drop("release")
            after = store.read_table(table, "45.1")
            assert after["release"].unique().to_list() == ["45.1"] and after.drop("release").equals(before)

        # One patient's follow-up changes: survival by gene depends on it; DE, enrichment and subtypes do not.
        patients = store.read_table(HARMONISED_PATIENTS, "45.1")
        changed = patients.with_columns(
            overall_survival_days=pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.col("overall_survival_days") + 30)
            .otherwise(pl.col("overall_survival_days"))
        )
        target = store.partition_dir(HARMONISED_PATIENTS.layer, HARMONISED_PATIENTS.name, "45.1") / LEGACY_PART_FILE
        write_parquet_atomic(changed, target, store.storage)
        copied = _analyse(data_dir, instance)
    assert copied.pop("analytics/survival_by_gene") == "none (computed)"
    assert set(copied.values()) == {"45.0"}
