"""The lake's commit record survives losing it: copies of each generation are kept beside it, a corrupted manifest
is named with the repair command, and superseded versions stay while a recent generation still names them."""

from __future__ import annotations

import calendar
import json
import time

import polars as pl
import pytest

from lake.manifest import (
    READER_GENERATIONS,
    READER_GRACE_SECONDS,
    Generation,
    ManifestError,
    kept_generations,
    releases_from_catalog_paths,
)
from lake.store import Lake

RELEASE = "45.0"


def _commit_new_version(lake: Lake, rows: int) -> str:
    written = lake.write(pl.DataFrame({"release": [RELEASE] * rows, "x": range(rows)}), "scores", "grading", RELEASE)
    with lake.commit_lock():
        lake.commit({RELEASE: {"scores/grading": written.path}})
    return written.path.name


def _names(lake: Lake) -> set[str]:
    return {v.path.name for v in lake.versions("scores", "grading", RELEASE)}


def test_each_commit_keeps_a_copy_and_the_copies_are_pruned_to_what_readers_may_use(tmp_path):
    lake = Lake(tmp_path)
    for rows in range(1, 8):
        _commit_new_version(lake, rows)
    history = lake.manifest_history()
    # All seven were committed within the grace period, so all are kept; their numbers are the generations.
    assert [g.generation for g in history] == list(range(1, 8))
    assert history[-1].manifest == lake.manifest()


def test_generations_older_than_the_reader_window_and_the_grace_period_are_dropped():
    def generation(number: int, committed_at: str) -> Generation:
        return Generation(number, {"generation": number, "committed_at": committed_at, "releases": {}})

    old = "2026-01-01T00:00:00Z"
    generations = [generation(n, old) for n in range(1, 9)]
    kept = kept_generations(generations, now=1e12)  # long after all of them
    assert [g.generation for g in kept] == list(range(8, 8 - READER_GENERATIONS, -1))
    # A generation superseded within the grace period is kept although it is outside the window.
    recent = "2026-12-05T12:00:00Z"
    generations[4] = generation(5, recent)  # generation 4 was superseded by 5 just now
    now = calendar.timegm(time.strptime(recent, "%Y-%m-%dT%H:%M:%SZ")) + READER_GRACE_SECONDS / 2
    assert 4 in {g.generation for g in kept_generations(generations, now=now)}


def test_superseded_versions_stay_while_a_kept_generation_names_them(tmp_path):
    lake = Lake(tmp_path)
    names = [_commit_new_version(lake, rows) for rows in range(1, 7)]
    lake.remove_superseded([("scores", "grading")])
    # Every generation was committed within the grace period: nothing a recent reader may use goes.
    assert _names(lake) == set(names)


def test_versions_no_kept_generation_names_are_removed(tmp_path, monkeypatch):
    import lake.manifest as manifest_module

    monkeypatch.setattr(manifest_module, "READER_GRACE_SECONDS", 0.0)
    lake = Lake(tmp_path)
    names = [_commit_new_version(lake, rows) for rows in range(1, 8)]
    lake.remove_superseded([("scores", "grading")])
    assert _names(lake) == set(names[-READER_GENERATIONS:])
    assert [g.generation for g in lake.manifest_history()] == list(range(8 - READER_GENERATIONS, 8))


def test_a_corrupted_manifest_is_named_with_the_repair_command(tmp_path):
    lake = Lake(tmp_path)
    _commit_new_version(lake, 3)
    lake.manifest_path.write_text('{"generation": 1, "releases": {"45.0": {"scores/gr')
    with pytest.raises(ManifestError) as raised:
        Lake(tmp_path).manifest()
    message = str(raised.value)
    assert str(lake.manifest_path) in message
    assert f"python -m warehouse.catalog --data-dir {tmp_path.resolve()} --rebuild-manifest" in message


def test_a_manifest_of_the_wrong_shape_is_refused(tmp_path):
    lake = Lake(tmp_path)
    lake.root.mkdir(parents=True)
    lake.manifest_path.write_text(json.dumps({"releases": []}))
    with pytest.raises(ManifestError, match="lacks generation/releases"):
        lake.manifest()


def test_a_lost_manifest_is_rebuilt_from_the_newest_copy_whose_files_exist(tmp_path):
    lake = Lake(tmp_path)
    first = _commit_new_version(lake, 2)
    second = _commit_new_version(lake, 3)
    lake.manifest_path.unlink()
    assert Lake(tmp_path).manifest_lost()
    (lake.partition_dir("scores", "grading", RELEASE) / second).unlink()  # the newest generation's file is gone too

    rebuilt = Lake(tmp_path).rebuild_manifest()
    assert rebuilt["releases"] == {RELEASE: {"scores/grading": first}}
    assert rebuilt["rebuilt"] == "rebuilt from generation 1"
    assert rebuilt["generation"] == 3  # numbering continues after the kept copies
    assert not Lake(tmp_path).manifest_lost()


def test_without_copies_the_manifest_is_rebuilt_from_the_catalogs_file_list(tmp_path):
    lake = Lake(tmp_path)
    name = _commit_new_version(lake, 2)
    path = str(lake.partition_dir("scores", "grading", RELEASE) / name)
    assert releases_from_catalog_paths([path, "/elsewhere/not-a-lake.parquet"]) == {RELEASE: {"scores/grading": name}}
    lake.manifest_path.unlink()
    for copy in lake.storage.child_names(lake.history_dir):
        (lake.history_dir / copy).unlink()
    with pytest.raises(ManifestError, match="cannot rebuild"):
        Lake(tmp_path).rebuild_manifest([])
    rebuilt = Lake(tmp_path).rebuild_manifest([path])
    assert rebuilt["releases"] == {RELEASE: {"scores/grading": name}}
