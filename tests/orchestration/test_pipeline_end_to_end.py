"""Every asset and check of the code location, materialised for real: stand-in over HTTP -> raw ->
harmonised (GX checks) -> features -> models (registry) -> scores -> DuckDB catalog."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from lake.store import Lake
from orchestration.definitions import RELEASE_ASSETS, RELEASE_CHECKS, analytics_catalog
from quality.tables import QUALITY_TABLES


def refresh(base_url: str, data_dir: Path, release: str, instance: DagsterInstance, n_splits: int = 3):
    """What the sensor-triggered `refresh_gdc_release` run does for one release (lighter CV for speed)."""
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    resources = {
        "gdc": GdcApiResource(base_url=base_url, page_size=500, backoff_factor=0.01),
        "lake": LakeResource(data_dir=str(data_dir)),
        "gene_panels": GenePanelResource(),
        "model_training": ModelTrainingResource(
            n_splits=n_splits, n_repeats=1, survival_baselines=False, classifier_baselines=False
        ),
    }
    result = materialize(
        [*RELEASE_ASSETS, *RELEASE_CHECKS],
        partition_key=release,
        instance=instance,
        raise_on_error=False,
        resources=resources,
    )
    if result.success:  # what the refresh job publishes at its end
        assert materialize([analytics_catalog], instance=instance, resources={"lake": resources["lake"]}).success
    return result


def check_outcomes(result) -> dict[tuple[str, str], bool]:
    return {
        (
            event.event_specific_data.asset_key.to_user_string(),
            event.event_specific_data.check_name,
        ): event.event_specific_data.passed
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.mark.realdata
@pytest.mark.slow
def test_real_dev_bundle_end_to_end_gives_green_checks_reconciled_quarantine_and_scored_tables(
    real_dev_bundle, gdc_standin_factory, tmp_path
):
    server = gdc_standin_factory(real_dev_bundle)
    result = refresh(server.base_url, tmp_path, "45.0", DagsterInstance.ephemeral())
    assert result.success

    checks = check_outcomes(result)
    # blocking + warning per checked lake table, the two reconciliations, the decay check
    assert len(checks) == 2 * len(QUALITY_TABLES) + 3
    assert all(checks.values()), [key for key, passed in checks.items() if not passed]

    lake = Lake(tmp_path)
    raw_cases = lake.read("raw", "gdc_cases", "45.0")
    patients = lake.read("harmonised", "patients", "45.0")
    quarantine = lake.read("harmonised", "quarantine", "45.0")
    quarantined_cases = quarantine.filter(pl.col("table") == "raw/gdc_cases")["case_id"].n_unique()
    assert raw_cases.height == patients.height + quarantined_cases == 777

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as catalog:
        grading = catalog.execute("select count(*), count(distinct case_id) from scores.grading_current").fetchone()
        assert grading[0] == grading[1] == patients.height
        survival = catalog.execute(
            "select risk_group, count(*) from scores.survival_risk_current group by all order by 1"
        ).fetchall()
        assert {group for group, _ in survival} == {"high", "intermediate", "low"}
        champions = catalog.execute(
            "select task from registry.models where status = 'champion' order by task"
        ).fetchall()
        assert champions == [("grading_gbm_vs_lgg",), ("grading_who_grade",), ("molecular_type",), ("survival_risk",)]
        # Scores make clinical sense on real data: IDH-wildtype GBM-like tumours score higher.
        by_idh = dict(
            catalog.execute(
                """select m.idh_status, avg(s.grade_probability_gbm) from scores.grading_current s
                   join harmonised.molecular_markers_current m using (case_id)
                   where m.idh_status is not null group by 1"""
            ).fetchall()
        )
        assert by_idh["wildtype"] > 0.7 > 0.3 > by_idh["mutant"]
    assert (tmp_path / "reports" / "45.0" / "gx" / "index.html").exists()


@pytest.mark.slow
def test_new_release_is_rescored_and_history_is_kept(
    gdc_standin_factory, synthetic_two_release_root, two_release_catalog_copy
):
    # Both releases refreshed and trained by the real jobs over HTTP: the shared world (tests/worlds.py), copied,
    # because the rerun at the end writes to it.
    root, _, _ = synthetic_two_release_root
    tmp_path, first, second = two_release_catalog_copy
    server = gdc_standin_factory(root)
    server.set_release(second)
    instance = DagsterInstance.ephemeral()  # a new instance: what was committed is read from the lake alone

    lake = Lake(tmp_path)
    for release in (first, second):
        scores = lake.read("scores", "grading", release)
        assert scores.select("case_id", "release", "model_version").is_duplicated().sum() == 0
        assert scores["release"].unique().to_list() == [release]
    assert lake.releases("scores", "survival_risk") == [first, second]

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as catalog:
        assert catalog.execute("select distinct release from scores.grading_current").fetchall() == [(second,)]
        per_task = dict(catalog.execute("select task, count(*) from registry.models group by task").fetchall())
        # One model per task and training release; exactly one champion per task.
        assert all(count == 2 for count in per_task.values()), per_task
        assert catalog.execute("select count(*) from registry.models where status = 'champion'").fetchone()[0] == 4
        assert catalog.execute("select count(distinct release) from scores.grading").fetchone()[0] == 2

    # Re-running a release is idempotent: same rows, no duplicates.
    before = lake.read("scores", "survival_risk", second).height
    # The world's training settings (tests/worlds.py), so the rerun's recipes are the ones already trained.
    assert refresh(server.base_url, tmp_path, second, instance, n_splits=2).success
    after = lake.read("scores", "survival_risk", second)
    assert after.height == before
    assert instance.get_latest_materialization_event(AssetKey(["scores", "survival_risk"])) is not None
