"""release_changes: per-case, per-field diff of a harmonised table between two releases; on hand-built frames
and on a synthetic two-release history whose changes the generator records (its truth sidecar)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.schemas import RELEASE_CHANGES_SCHEMA
from sandbox.bundle_tables import BundleRawTables, raw_tables_from_bundle
from sandbox.synthetic import TRUTH_FILE
from transforms.markers import call_molecular_markers
from transforms.patients import harmonise_patients
from transforms.release_changes import release_changes, summarise_release_changes

PATIENTS = "harmonised/patients"
MARKERS = "harmonised/molecular_markers"


def diff(previous: pl.DataFrame | None, current: pl.DataFrame, **kwargs) -> pl.DataFrame:
    return release_changes(
        previous,
        current,
        previous_release="45.0",
        current_release="46.0",
        table=kwargs.pop("table", PATIENTS),
        **kwargs,
    )


def rows(changes: pl.DataFrame) -> list[tuple]:
    return list(changes.select("case_id", "change", "field", "previous_value", "current_value").iter_rows())


# --- hand-built frames -----------------------------------------------------------------------------------


def test_added_removed_and_changed_cases_give_one_row_each_and_unchanged_cases_none() -> None:
    previous = pl.DataFrame(
        {
            "release": ["45.0"] * 4,
            "case_id": ["gone", "same", "older", "newer"],
            "sex": ["female", "male", "male", None],
            "overall_survival_days": [100.0, 200.0, 300.0, 400.0],
        }
    )
    current = pl.DataFrame(
        {
            "release": ["46.0"] * 4,
            "case_id": ["same", "older", "newer", "new"],
            "sex": ["male", "male", "female", "female"],
            "overall_survival_days": [200.0 + 1e-12, 365.5, 400.0, 12.0],
        }
    )
    changes = diff(previous, current)
    assert changes.schema == pl.Schema(RELEASE_CHANGES_SCHEMA)
    assert rows(changes) == [
        ("new", "added", None, None, None),
        ("gone", "removed", None, None, None),
        ("newer", "changed", "sex", None, "female"),
        ("older", "changed", "overall_survival_days", "300.0", "365.5"),
    ]
    assert set(changes["previous_release"]) == {"45.0"} and set(changes["release"]) == {"46.0"}
    assert set(changes["table"]) == {PATIENTS}


def test_float_noise_within_tolerance_is_no_change_but_a_real_difference_is() -> None:
    previous = pl.DataFrame({"case_id": list("abcdefg"), "x": [1.0, 0.1 + 0.2, math.nan, math.inf, None, 5.0, 1e6]})
    current = pl.DataFrame(
        {"case_id": list("abcdefg"), "x": [1.0 + 5e-10, 0.3, math.nan, math.inf, None, 5.000001, 1e6 + 1e-3]}
    )
    assert rows(diff(previous, current)) == [
        ("f", "changed", "x", "5.0", "5.000001"),
        ("g", "changed", "x", "1000000.0", "1000000.001"),
    ]
    assert diff(previous, current, float_tolerance=1e-2).height == 0
    # a Parquet round trip of the same table is no change at all
    assert diff(current, pl.read_parquet(_roundtrip(current))).height == 0


def _roundtrip(frame: pl.DataFrame) -> io.BytesIO:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    buffer.seek(0)
    return buffer


def test_null_equals_null_and_a_null_to_value_change_is_reported_both_ways() -> None:
    previous = pl.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "grade": pl.Series([None, 2, 3], dtype=pl.Int8),
            "flag": [None, True, None],
            "text": [None, None, "x"],
        }
    )
    current = pl.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "grade": pl.Series([None, None, 3], dtype=pl.Int8),
            "flag": [None, True, False],
            "text": [None, "y", "x"],
        }
    )
    assert rows(diff(previous, current)) == [
        ("b", "changed", "grade", "2", None),
        ("b", "changed", "text", None, "y"),
        ("c", "changed", "flag", None, "false"),
    ]


def test_list_and_struct_columns_compare_by_value_and_render_as_json() -> None:
    previous = pl.DataFrame(
        {
            "case_id": ["same", "order", "empty", "struct"],
            "genes": [["IDH1", "TP53"], ["IDH1", "TP53"], [], ["ATRX"]],
            "call": [{"gene": "EGFR", "n": 1}, {"gene": "EGFR", "n": 1}, None, {"gene": "EGFR", "n": 1}],
        }
    )
    current = pl.DataFrame(
        {
            "case_id": ["same", "order", "empty", "struct"],
            "genes": [["IDH1", "TP53"], ["TP53", "IDH1"], None, ["ATRX"]],
            "call": [{"gene": "EGFR", "n": 1}, {"gene": "EGFR", "n": 1}, None, {"gene": "EGFR", "n": 2}],
        }
    )
    assert rows(diff(previous, current)) == [
        ("empty", "changed", "genes", "[]", None),  # an empty list is a value, not a null
        ("order", "changed", "genes", '["IDH1","TP53"]', '["TP53","IDH1"]'),
        ("struct", "changed", "call", '{"gene":"EGFR","n":1}', '{"gene":"EGFR","n":2}'),
    ]


def test_release_and_bookkeeping_columns_are_ignored_and_one_sided_columns_too() -> None:
    previous = pl.DataFrame(
        {
            "release": ["45.0"],
            "case_id": ["a"],
            "_loaded_at": ["t0"],
            "content_hash": ["h0"],
            "sex": ["male"],
            "dropped_column": [1],
        }
    )
    current = pl.DataFrame(
        {
            "release": ["46.0"],
            "case_id": ["a"],
            "_loaded_at": ["t1"],
            "content_hash": ["h1"],
            "sex": ["male"],
            "new_column": [2],
        }
    )
    assert diff(previous, current).height == 0
    # compare_columns picks the fields explicitly (even a bookkeeping one, when asked for)
    assert rows(diff(previous, current, compare_columns=["content_hash"])) == [
        ("a", "changed", "content_hash", "h0", "h1")
    ]
    with pytest.raises(ValueError, match="new_column"):
        diff(previous, current, compare_columns=["sex", "new_column"])


def test_a_dtype_widened_between_releases_compares_by_value() -> None:
    previous = pl.DataFrame(
        {"case_id": ["a", "b"], "score": pl.Series([80, 90], dtype=pl.Int16), "grade": pl.Series([2, 3], dtype=pl.Int8)}
    )
    current = pl.DataFrame({"case_id": ["a", "b"], "score": [80.0, 70.0], "grade": pl.Series([2, 4], dtype=pl.Int32)})
    assert rows(diff(previous, current)) == [
        ("b", "changed", "score", "90", "70.0"),
        ("b", "changed", "grade", "3", "4"),
    ]


def test_first_release_makes_every_case_added() -> None:
    current = pl.DataFrame({"release": ["45.0"] * 2, "case_id": ["b", "a"], "sex": ["male", None]})
    changes = release_changes(None, current, previous_release=None, current_release="45.0", table=PATIENTS)
    assert changes.schema == pl.Schema(RELEASE_CHANGES_SCHEMA)
    assert rows(changes) == [("a", "added", None, None, None), ("b", "added", None, None, None)]
    assert changes["previous_release"].null_count() == 2


def test_identical_releases_give_an_empty_frame_with_the_declared_schema() -> None:
    frame = pl.DataFrame({"case_id": ["a", "b"], "x": [1.0, None], "genes": [["IDH1"], None]})
    changes = diff(frame, frame)
    assert changes.height == 0 and changes.schema == pl.Schema(RELEASE_CHANGES_SCHEMA)


def test_another_key_column_fills_case_id_with_its_values() -> None:
    previous = pl.DataFrame({"submitter_id": ["TCGA-02-0001"], "sex": ["male"]})
    current = pl.DataFrame({"submitter_id": ["TCGA-02-0001"], "sex": ["female"]})
    assert rows(diff(previous, current, key="submitter_id")) == [("TCGA-02-0001", "changed", "sex", "male", "female")]


@pytest.mark.parametrize("case_ids, message", [(["a", "a"], "duplicated"), (["a", None], "null")])
def test_duplicated_or_null_keys_are_refused(case_ids, message) -> None:
    good = pl.DataFrame({"case_id": ["a"], "x": [1]})
    bad = pl.DataFrame({"case_id": case_ids, "x": [1, 2]})
    with pytest.raises(ValueError, match=message):
        diff(good, bad)
    with pytest.raises(ValueError, match=message):
        diff(bad, good)


def test_summary_counts_cases_by_change_and_ranks_fields_by_changed_cases() -> None:
    previous = pl.DataFrame({"case_id": ["a", "b", "c", "gone"], "x": [1, 2, 3, 4], "y": ["p", "q", "r", "s"]})
    current = pl.DataFrame({"case_id": ["a", "b", "c", "new"], "x": [9, 9, 3, 4], "y": ["z", "q", "r", "s"]})
    summary = summarise_release_changes(diff(previous, current))
    assert summary == {
        "cases_added": 1,
        "cases_removed": 1,
        "cases_changed": 2,
        "field_changes": 3,
        "fields_changed": 2,
        "top_changed_fields": {"x": 2, "y": 1},
    }
    assert summarise_release_changes(diff(previous, current), top=1)["top_changed_fields"] == {"x": 2}
    empty = summarise_release_changes(pl.DataFrame(schema=RELEASE_CHANGES_SCHEMA))
    assert empty["cases_changed"] == 0 and empty["top_changed_fields"] == {}


# --- a synthetic history with known changes ----------------------------------------------------------------


@pytest.fixture(scope="module")
def history(synthetic_two_release_root: tuple[Path, str, str]):
    """Both releases harmonised with the project's own functions, and the generator's truth of the second.

    The multi-release writer records, per case of releases/<label>/_synthetic_truth.parquet, the
    `release_change` (added / follow_up_updated / file_new_version / unchanged; removed cases as extra rows
    with `in_release` false)."""
    root, first, second = synthetic_two_release_root
    harmonised: dict[str, tuple[pl.DataFrame, pl.DataFrame, BundleRawTables]] = {}
    for label in (first, second):
        raw = raw_tables_from_bundle(root, label)
        patients = harmonise_patients(raw.cases)
        assert patients.quarantine.height == 0  # every case is a patient: the diff sees the same cases as raw
        markers = call_molecular_markers(
            raw.cases, raw.ssm_occurrences, raw.cnv_occurrences, raw.mgmt_probe_betas, release=label
        )
        harmonised[label] = (patients.patients, markers.markers, raw)
    truth = {label: pl.read_parquet(root / "releases" / label / TRUTH_FILE) for label in (first, second)}
    return first, second, harmonised, truth


def _ids(truth: pl.DataFrame, change: str) -> set[str]:
    return set(truth.filter(pl.col("release_change") == change)["case_id"])


def _changed(changes: pl.DataFrame, kind: str, field: str | None = None) -> set[str]:
    selected = changes.filter(pl.col("change") == kind)
    if field is not None:
        selected = selected.filter(pl.col("field") == field)
    return set(selected["case_id"])


def test_patients_diff_finds_exactly_the_generators_added_removed_and_follow_up_changes(history) -> None:
    first, second, harmonised, truth = history
    changes = release_changes(
        harmonised[first][0], harmonised[second][0], previous_release=first, current_release=second, table=PATIENTS
    )
    new = truth[second]
    assert _changed(changes, "added") == _ids(new, "added") and len(_ids(new, "added")) > 0
    assert _changed(changes, "removed") == _ids(new, "removed") and len(_ids(new, "removed")) > 0
    # only cases whose follow-up the generator extended change, and exactly those whose survival changed
    assert _changed(changes, "changed") <= _ids(new, "follow_up_updated")
    both = new.filter(pl.col("in_release")).join(truth[first], on="case_id", suffix="_before")
    survival_moved = set(
        both.filter(pl.col("overall_survival_days") != pl.col("overall_survival_days_before"))["case_id"]
    )
    assert survival_moved and _changed(changes, "changed", "overall_survival_days") == survival_moved
    died = set(new.filter(pl.col("died_since_previous_release") & pl.col("vital_status_reported"))["case_id"])
    assert died and _changed(changes, "changed", "death_observed") == died
    assert set(changes.filter(pl.col("field") == "death_observed")["current_value"]) == {"true"}
    summary = summarise_release_changes(changes)
    assert summary["cases_added"] == len(_ids(new, "added"))
    assert summary["top_changed_fields"]["overall_survival_days"] == len(survival_moved)


def test_cases_with_identical_documents_in_both_releases_produce_no_rows(history) -> None:
    """The same check without the truth file: documents (with their updated_datetime) equal -> no change."""
    first, second, harmonised, _ = history
    raw_before, raw_after = harmonised[first][2].cases, harmonised[second][2].cases
    same = raw_after.join(raw_before, on="case_id", suffix="_before").filter(
        (pl.col("document") == pl.col("document_before"))
        & (pl.col("updated_datetime") == pl.col("updated_datetime_before"))
    )
    assert same.height >= 0.7 * raw_after.height
    for table, position in ((PATIENTS, 0), (MARKERS, 1)):
        changes = release_changes(
            harmonised[first][position],
            harmonised[second][position],
            previous_release=first,
            current_release=second,
            table=table,
        )
        assert not _changed(changes, "changed") & set(same["case_id"]), table


def test_markers_diff_sees_the_new_methylation_file_versions_and_nothing_else(history) -> None:
    first, second, harmonised, truth = history
    changes = release_changes(
        harmonised[first][1], harmonised[second][1], previous_release=first, current_release=second, table=MARKERS
    )
    new = truth[second]
    assert _changed(changes, "added") == _ids(new, "added")
    assert _changed(changes, "removed") == _ids(new, "removed")
    assert _changed(changes, "changed") and _changed(changes, "changed") <= _ids(new, "file_new_version")
    assert set(changes.filter(pl.col("change") == "changed")["field"]) <= {
        "mgmt_stp27_probability",
        "mgmt_promoter_methylated",
        "mgmt_source",
        "mgmt_sources_disagree",
    }
    assert set(changes["table"]) == {MARKERS}


def test_first_release_of_the_history_is_all_added(history) -> None:
    first, _, harmonised, truth = history
    changes = release_changes(None, harmonised[first][0], previous_release=None, current_release=first, table=PATIENTS)
    assert _changed(changes, "added") == set(truth[first]["case_id"]) and changes.height == truth[first].height
    assert_frame_equal(changes.select("case_id"), changes.select("case_id").sort("case_id"))
