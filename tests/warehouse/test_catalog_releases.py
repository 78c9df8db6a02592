"""Which releases the catalog publishes: those whose gating tables are all written. A half-refreshed
release is withheld from every view; tables written after scoring (the challenger job) do not hold a
release back."""

from __future__ import annotations

import duckdb
import polars as pl

from contracts.tables import HARMONISED_PATIENTS, MODELS_SURVIVAL_BASELINES, SCORES_GRADING
from lake.store import Lake
from warehouse.catalog import committed_releases, publish_catalog


def _write(lake: Lake, table, release: str) -> None:
    frame = pl.DataFrame({name: [None] for name in table.schema}, schema=dict(table.schema))
    frame = frame.with_columns(pl.lit(release).alias("release"))
    if "case_id" in frame.columns:
        frame = frame.with_columns(pl.lit("c1").alias("case_id"))
    lake.write_table(table, frame, release)


def test_a_release_missing_a_gating_table_is_withheld_from_every_view(tmp_path):
    lake = Lake(tmp_path)
    for release in ("45.0", "46.0"):
        _write(lake, HARMONISED_PATIENTS, release)
    _write(lake, SCORES_GRADING, "45.0")  # 46.0's scores are not written yet (refresh killed)
    committed, withheld = committed_releases(lake)
    assert committed == ["45.0"] and withheld == {"46.0": ["scores/grading"]}
    publish_catalog(lake, tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as catalog:
        assert catalog.execute("select distinct release from harmonised.patients").fetchall() == [("45.0",)]
        assert catalog.execute("select distinct release from harmonised.patients_current").fetchall() == [("45.0",)]
        assert catalog.execute(
            "select release, status, missing_tables from ops.catalog_releases order by 1"
        ).fetchall() == [("45.0", "published", None), ("46.0", "withheld", "scores/grading")]


def test_tables_written_after_scoring_do_not_hold_a_release_back(tmp_path):
    lake = Lake(tmp_path)
    for release in ("45.0", "46.0"):
        _write(lake, HARMONISED_PATIENTS, release)
        _write(lake, SCORES_GRADING, release)
    _write(lake, MODELS_SURVIVAL_BASELINES, "45.0")  # the challenger job of 46.0 has not run yet
    assert committed_releases(lake) == (["45.0", "46.0"], {})


def test_a_moved_data_directory_is_served_again_after_one_republish(tmp_path):
    import shutil

    from warehouse.catalog import main

    lake = Lake(tmp_path / "before")
    for release in ("45.0", "46.0"):
        _write(lake, HARMONISED_PATIENTS, release)
        _write(lake, SCORES_GRADING, release)
    publish_catalog(lake, tmp_path / "before" / "warehouse.duckdb")
    moved = tmp_path / "after"
    shutil.move(tmp_path / "before", moved)
    assert main(["--data-dir", str(moved)]) == 0
    with duckdb.connect(str(moved / "warehouse.duckdb"), read_only=True) as catalog:
        assert catalog.execute("select count(distinct release) from harmonised.patients").fetchone()[0] == 2
    assert main(["--data-dir", str(tmp_path / "nowhere")]) == 2
