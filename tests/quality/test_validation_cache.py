"""A table identical to one already validated is not validated again; anything else is."""

from __future__ import annotations

import json

import polars as pl
from _quality_frames import RELEASE, set_value, valid_patients

from lake.integrity import content_hash
from quality.cache import cached_report, store_report, write_check_results
from quality.runner import validate_table


def test_identical_content_reuses_the_validation_and_says_so(tmp_path):
    frame = valid_patients()
    report = validate_table("harmonised/patients", frame, release=RELEASE, previous_row_count=frame.height)
    store_report(tmp_path, report, content_hash(frame))
    next_release = frame.with_columns(pl.lit("99.0").alias("release"))
    reused = cached_report(tmp_path, "harmonised/patients", "99.0", content_hash(next_release), frame.height)
    assert reused is not None and reused.release == "99.0"
    assert reused.success == report.success and reused.results == report.results
    assert any("not re-validated" in note for note in reused.notes)


def test_changed_content_or_a_different_row_count_comparison_is_validated_again(tmp_path):
    frame = valid_patients()
    report = validate_table("harmonised/patients", frame, release=RELEASE, previous_row_count=frame.height * 3)
    store_report(tmp_path, report, content_hash(frame))
    changed = set_value(frame, 0, "karnofsky_score", 10)
    assert cached_report(tmp_path, "harmonised/patients", "99.0", content_hash(changed), frame.height * 3) is None
    # The cached report failed the row-count change warning; with another previous count it is not reused.
    assert not report.warnings_passed
    assert cached_report(tmp_path, "harmonised/patients", "99.0", content_hash(frame), frame.height) is None


def test_check_results_are_written_per_expectation(tmp_path):
    frame = valid_patients()
    report = validate_table("harmonised/patients", frame, release=RELEASE)
    path = write_check_results(tmp_path, report)
    stored = json.loads(path.read_text())
    assert stored["table"] == "harmonised/patients" and stored["release"] == RELEASE
    assert len(stored["results"]) == len(report.results)
    assert {"expectation_type", "column", "severity", "success", "unexpected_count"} <= set(stored["results"][0])
