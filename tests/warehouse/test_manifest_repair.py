"""What analysts read survives a lost or corrupted lake manifest and outlives the publishes after it was opened:
a republish that finds the manifest gone refuses instead of publishing an empty catalog, the repair command
restores the committed releases, and a connection held across three publishes keeps answering."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import duckdb
import pytest

from contracts.tables import HARMONISED_PATIENTS, SCORES_GRADING, UNLISTED_TABLES
from lake.store import Lake
from warehouse.catalog import main, publish_catalog

pytestmark = pytest.mark.slow


def _catalog_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _published(data_dir: Path) -> list[str]:
    """What a fresh analyst process sees (in this process DuckDB would hand back an instance still open)."""
    query = "select list(release order by release) from ops.catalog_releases where status = 'published'"
    script = f"import duckdb; print(duckdb.connect({str(data_dir / 'warehouse.duckdb')!r}, read_only=True).sql({query!r}).fetchone()[0])"
    return eval(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)


def test_a_lost_manifest_is_refused_by_the_republish_and_rebuilt_by_the_repair_command(two_release_catalog_copy):
    data_dir, first, second = two_release_catalog_copy
    (data_dir / "lake" / "_manifest.json").unlink()

    code, _, err = _catalog_cli("--data-dir", str(data_dir))
    assert code == 2
    assert "_manifest.json is missing" in err and f"--data-dir {data_dir} --rebuild-manifest" in err
    assert _published(data_dir) == [first, second], "the refused publish changed nothing analysts read"

    code, out, err = _catalog_cli("--data-dir", str(data_dir), "--rebuild-manifest")
    assert code == 0, err
    assert "manifest rebuilt from generation" in out and f"releases {first}, {second}" in out
    assert _published(data_dir) == [first, second]


def test_without_its_kept_copies_the_manifest_is_rebuilt_from_the_published_catalog(two_release_catalog_copy):
    data_dir, first, second = two_release_catalog_copy
    (data_dir / "lake" / "_manifest.json").unlink()
    shutil.rmtree(data_dir / "lake" / "_manifests")

    code, _, err = _catalog_cli("--data-dir", str(data_dir))
    assert code == 2 and "publishing now would hide its releases" in err
    code, out, err = _catalog_cli("--data-dir", str(data_dir), "--rebuild-manifest")
    assert code == 0, err
    assert "manifest rebuilt from the published catalog" in out
    assert _published(data_dir) == [first, second]


def test_a_corrupted_manifest_is_named_with_the_repair_command_and_repaired(two_release_catalog_copy):
    data_dir, first, second = two_release_catalog_copy
    manifest = data_dir / "lake" / "_manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:50])

    code, _, err = _catalog_cli("--data-dir", str(data_dir))
    assert code == 2
    assert f"lake manifest {manifest} is not readable JSON" in err and "--rebuild-manifest" in err
    code, _, err = _catalog_cli("--data-dir", str(data_dir), "--rebuild-manifest")
    assert code == 0, err
    assert _published(data_dir) == [first, second]


def test_a_connection_held_across_three_publishes_keeps_answering(two_release_catalog_copy):
    data_dir, _, second = two_release_catalog_copy
    catalog = data_dir / "warehouse.duckdb"
    query = "select count(*), count(distinct release) from scores.grading"
    held = duckdb.connect(str(catalog), read_only=True)
    try:
        before = held.execute(query).fetchone()
        patients_before = held.execute("select count(*) from harmonised.patients").fetchone()
        for _ in range(3):
            # Each publish commits new versions of tables the held catalog reads, so every earlier version is
            # superseded: they must stay while a recent generation names them.
            lake = Lake(data_dir)
            for table in (SCORES_GRADING, HARMONISED_PATIENTS):
                lake.write_table(table, lake.read_table(table, second), second)
            publish_catalog(lake, catalog, registry_path=data_dir / "model_registry.duckdb")
        assert held.execute(query).fetchone() == before
        assert held.execute("select count(*) from harmonised.patients").fetchone() == patients_before
    finally:
        held.close()


def test_superseded_versions_of_the_rejects_are_removed_like_every_other_tables(two_release_catalog_copy, monkeypatch):
    from lake import manifest as lake_manifest
    from lake.manifest import READER_GENERATIONS

    monkeypatch.setattr(lake_manifest, "READER_GRACE_SECONDS", 0.0)
    data_dir, _, second = two_release_catalog_copy
    catalog = data_dir / "warehouse.duckdb"
    for table in UNLISTED_TABLES:
        assert Lake(data_dir).committed_path(table.layer, table.name, second) is not None, f"{table.path} is committed"
    for _ in range(READER_GENERATIONS + 2):
        lake = Lake(data_dir)
        for table in UNLISTED_TABLES:
            lake.write_table(table, lake.read_table(table, second), second)
        publish_catalog(lake, catalog, registry_path=data_dir / "model_registry.duckdb")
    lake = Lake(data_dir)
    for table in UNLISTED_TABLES:
        versions = lake.versions(table.layer, table.name, second)
        assert len(versions) == READER_GENERATIONS, f"{table.path}: {[v.path.name for v in versions]}"
        assert lake.committed_path(table.layer, table.name, second) == versions[-1].path
