"""write_multi_release: later releases add, update and remove cases and re-version files, as recorded."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from sandbox.synthetic import TRUTH_FILE, TRUTH_FILES_FILE, CohortSpec, write_bundle, write_multi_release

N_CASES = 400
CHANGE_SHARE = 0.2


def _by_id(path: Path, key: str) -> dict[str, dict]:
    return {json.loads(line)[key]: json.loads(line) for line in path.read_text().splitlines()}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    spec = CohortSpec(n_cases=N_CASES, seed=13, bad_value_share=0.05)
    summaries = write_multi_release(root, spec, releases=("45.0", "46.0"), change_share=CHANGE_SHARE)
    return root, spec, summaries


def _release(root: Path, label: str) -> dict:
    release = root / "releases" / label
    return dict(
        cases=_by_id(release / "cases.jsonl", "case_id"),
        files=_by_id(release / "files.jsonl", "file_id"),
        truth=pl.read_parquet(release / TRUTH_FILE),
        files_truth=pl.read_parquet(release / TRUTH_FILES_FILE),
        status=json.loads((release / "status.json").read_text()),
        dir=release,
    )


def test_current_points_at_the_last_release_and_status_strings_differ(history):
    root, _, summaries = history
    assert (root / "CURRENT").read_text().strip() == "46.0"
    assert [s.release_label for s in summaries] == ["45.0", "46.0"]
    old, new = _release(root, "45.0"), _release(root, "46.0")
    assert old["status"]["data_release"] == "Data Release 45.0 - December 04, 2025"
    assert new["status"]["data_release"].startswith("Data Release 46.0 - ")


def test_the_first_release_equals_a_single_release_bundle(history, tmp_path):
    root, spec, _ = history
    single = write_bundle(tmp_path, spec)
    for name in ("cases.jsonl", "ssm_occurrences.jsonl", "cnv_occurrences.jsonl", "files.jsonl"):
        assert (root / "releases/45.0" / name).read_bytes() == (single.release_dir / name).read_bytes()


def test_changes_cover_the_chosen_share_and_are_recorded(history):
    root, _, summaries = history
    old, new = _release(root, "45.0"), _release(root, "46.0")
    changes = dict(
        zip(*new["truth"]["release_change"].value_counts(sort=True).to_dict(as_series=False).values(), strict=True)
    )
    changed = sum(v for k, v in changes.items() if k != "unchanged")
    assert changed == round(CHANGE_SHARE * N_CASES)
    assert {"added", "removed", "follow_up_updated", "file_new_version"} <= set(changes)
    assert summaries[1].changes == changes
    removed = set(new["truth"].filter(pl.col("release_change") == "removed")["case_id"])
    added = set(new["truth"].filter(pl.col("release_change") == "added")["case_id"])
    assert removed <= set(old["cases"]) and not removed & set(new["cases"])
    assert added <= set(new["cases"]) and not added & set(old["cases"])
    assert set(new["cases"]) == (set(old["cases"]) - removed) | added
    assert set(new["truth"].filter(~pl.col("in_release"))["case_id"]) == removed
    # removed cases' occurrences and files are gone too
    for line in (new["dir"] / "ssm_occurrences.jsonl").read_text().splitlines():
        assert json.loads(line)["case"]["case_id"] not in removed
    assert not {f["cases"][0]["case_id"] for f in new["files"].values()} & removed


def _last_follow_up(case: dict) -> float | None:
    values = [d.get("days_to_last_follow_up") for d in case.get("diagnoses", [])]
    values += [f.get("days_to_follow_up") for f in case.get("follow_ups", [])]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def test_updated_follow_up_is_longer_and_some_deaths_appear(history):
    root, _, _ = history
    old, new = _release(root, "45.0"), _release(root, "46.0")
    old_truth = {r["case_id"]: r for r in old["truth"].iter_rows(named=True)}
    updated = new["truth"].filter(pl.col("release_change") == "follow_up_updated")
    assert updated.height > 0
    checked = 0
    for row in updated.iter_rows(named=True):
        before = old_truth[row["case_id"]]
        assert row["follow_up_end_days"] > before["follow_up_end_days"]
        assert row["overall_survival_days"] >= before["overall_survival_days"]
        old_doc, new_doc = old["cases"][row["case_id"]], new["cases"][row["case_id"]]
        assert new_doc["updated_datetime"] != old_doc["updated_datetime"]
        if not row["death_observed"] and _last_follow_up(old_doc) is not None:
            assert _last_follow_up(new_doc) > _last_follow_up(old_doc)
            checked += 1
    assert checked > 0
    died = new["truth"].filter(pl.col("died_since_previous_release"))
    assert died.height > 0
    for row in died.iter_rows(named=True):
        assert not old_truth[row["case_id"]]["death_observed"] and row["death_observed"]
        if new["cases"][row["case_id"]]["demographic"]["vital_status"] != "Not Reported":
            assert new["cases"][row["case_id"]]["demographic"]["vital_status"] == "Dead"
            assert old["cases"][row["case_id"]]["demographic"]["vital_status"] == "Alive"


def test_unchanged_cases_keep_identical_documents(history):
    root, _, _ = history
    old, new = _release(root, "45.0"), _release(root, "46.0")
    unchanged = new["truth"].filter(pl.col("release_change") == "unchanged")["case_id"].to_list()
    assert len(unchanged) >= 0.75 * N_CASES
    for case_id in unchanged:
        assert new["cases"][case_id] == old["cases"][case_id]
    # recorded bad values stay with their case
    old_defects = dict(
        old["truth"].filter(pl.col("defect_kind").is_not_null()).select("case_id", "defect_kind").iter_rows()
    )
    new_defects = dict(
        new["truth"]
        .filter(pl.col("defect_kind").is_not_null() & pl.col("in_release"))
        .select("case_id", "defect_kind")
        .iter_rows()
    )
    assert old_defects
    for case_id in unchanged:
        assert old_defects.get(case_id) == new_defects.get(case_id)


def test_new_file_versions_get_new_ids_and_bytes_while_unchanged_files_keep_id_and_md5(history):
    root, _, _ = history
    old, new = _release(root, "45.0"), _release(root, "46.0")
    versions = new["files_truth"].filter(pl.col("file_change") == "new_version")
    assert versions.height > 0
    for row in versions.iter_rows(named=True):
        document = new["files"][row["file_id"]]
        previous = old["files"][row["previous_file_id"]]
        assert row["file_id"] not in old["files"] and row["previous_file_id"] not in new["files"]
        assert document["version"] == "2" and previous["version"] == "1"
        assert document["md5sum"] != previous["md5sum"]
        assert document["cases"][0]["samples"] == previous["cases"][0]["samples"]
        assert not (new["dir"] / "data" / row["previous_file_id"]).exists()
    unchanged = new["files_truth"].filter(pl.col("file_change") == "unchanged")
    assert unchanged.height > 0.7 * len(old["files"])
    for row in unchanged.iter_rows(named=True):
        assert old["files"][row["file_id"]]["md5sum"] == new["files"][row["file_id"]]["md5sum"] == row["md5sum"]
        assert (old["dir"] / "data" / row["file_id"]).read_bytes() == (
            new["dir"] / "data" / row["file_id"]
        ).read_bytes()
    assert set(new["files_truth"]["file_change"]) <= {"unchanged", "new_version", "added"}


def test_a_history_can_cross_a_profile_change(tmp_path):
    summaries = write_multi_release(
        tmp_path,
        CohortSpec(n_cases=60, seed=2, methylation_share=0.0),
        releases=("42.0", "43.0"),
        change_share=0.1,
        profiles=("dr42", "dr43"),
    )
    assert [s.profile for s in summaries] == ["dr42", "dr43"]
    dr42 = [json.loads(x) for x in (tmp_path / "releases/42.0/cases.jsonl").read_text().splitlines()]
    dr43 = [json.loads(x) for x in (tmp_path / "releases/43.0/cases.jsonl").read_text().splitlines()]
    assert not any("days_to_last_follow_up" in d for c in dr42 for d in c.get("diagnoses", []))
    assert any("days_to_last_follow_up" in d for c in dr43 for d in c.get("diagnoses", []))


def test_invalid_histories_are_rejected(tmp_path):
    spec = CohortSpec(n_cases=10, seed=1)
    with pytest.raises(ValueError, match="distinct"):
        write_multi_release(tmp_path, spec, releases=("45.0", "45.0"))
    with pytest.raises(ValueError, match="change_share"):
        write_multi_release(tmp_path, spec, change_share=1.5)
    with pytest.raises(ValueError, match="profiles given"):
        write_multi_release(tmp_path, spec, profiles=("dr45",))
