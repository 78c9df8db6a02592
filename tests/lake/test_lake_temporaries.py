"""Leftovers of a killed writer (temporary Parquet parts, temporary catalogs and their WAL) are removed by
the next write; a temporary of a live writer is left alone; published files are readable by everyone."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl

from lake.store import Lake
from warehouse.catalog import publish_catalog


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_temporaries_of_killed_writers_only(tmp_path):
    lake = Lake(tmp_path)
    killed_version = lake.new_version_path("harmonised", "patients", "45.0")  # each write has its own name
    killed_version.parent.mkdir(parents=True)
    dead = killed_version.parent / f".{killed_version.name}.{_dead_pid()}.abc123.tmp"
    live = killed_version.parent / f".part-1-other.parquet.{os.getppid()}.def456.tmp"
    dead.write_bytes(b"half a parquet file")
    live.write_bytes(b"being written")
    written = lake.write(pl.DataFrame({"release": ["45.0"], "case_id": ["c1"]}), "harmonised", "patients", "45.0")
    assert not dead.exists() and live.exists()
    assert written.path == lake.table_path("harmonised", "patients", "45.0")
    assert oct(written.path.stat().st_mode & 0o777) == "0o644"


def test_a_killed_catalog_publish_leaves_nothing_behind_after_the_next_publish(tmp_path):
    lake = Lake(tmp_path)
    catalog = tmp_path / "warehouse.duckdb"
    pid = _dead_pid()
    leftovers = [tmp_path / f".{catalog.name}.{pid}.x1y2.tmp", tmp_path / f".{catalog.name}.{pid}.x1y2.tmp.wal"]
    for path in leftovers:
        path.write_bytes(b"killed mid-publish")
    publish_catalog(lake, catalog)
    assert not any(path.exists() for path in leftovers)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
