"""What the asset checks hand the runner to save memory gives the same reports as the whole frame.

The checks pass a lazy scan of the partition file (only the columns the suite reads are materialised), and a
text column the suite only checks for nulls (the occurrences' `document`, a quarantine `record`, ...) reaches
pandas as its null mask. Reports of tables with nulls in such columns must equal the reports of the whole
frame with the real values converted, row keys of the offending rows included.
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest
from _quality_frames import RELEASE, valid_quarantine

import quality.runner
from quality.runner import validate_table
from sandbox.bundle_tables import raw_tables_from_bundle
from sandbox.synthetic import CohortSpec, write_multi_release


def _nulls_every(frame: pl.DataFrame, n: int, *columns: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % n == 1).then(None).otherwise(pl.col(column)).alias(column)
        for column in columns
    )


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict[str, pl.DataFrame]:
    root = tmp_path_factory.mktemp("validation_memory")
    write_multi_release(root, CohortSpec(n_cases=60, seed=3, release_label=RELEASE), releases=(RELEASE,))
    raw = raw_tables_from_bundle(root, RELEASE)
    return {
        "raw/gdc_cases": _nulls_every(raw.cases, 9, "document"),
        "raw/gdc_ssm_occurrences": _nulls_every(raw.ssm_occurrences, 7, "document", "ssm_id"),
        "raw/gdc_cnv_occurrences": _nulls_every(raw.cnv_occurrences, 11, "document", "cnv_id"),
        "raw/gdc_methylation_files": _nulls_every(raw.methylation_files, 5, "document", "file_name"),
        "harmonised/quarantine": _nulls_every(valid_quarantine(), 2, "record", "detail"),
    }


def _comparable(report) -> dict:
    fields = dataclasses.asdict(report)
    fields.pop("validation_seconds")
    return fields


def test_null_checked_text_columns_are_the_documents_and_never_a_row_key() -> None:
    assert {"document", "cnv_id"} <= quality.runner._null_checked_only("raw/gdc_cnv_occurrences")
    assert "record" in quality.runner._null_checked_only("harmonised/quarantine")
    # raw/gdc_cases documents must parse as JSON: their values are needed.
    assert "document" not in quality.runner._null_checked_only("raw/gdc_cases")
    assert "file_id" not in quality.runner._null_checked_only("raw/gdc_methylation_files")


@pytest.mark.parametrize(
    "table_name",
    [
        "raw/gdc_cases",
        "raw/gdc_ssm_occurrences",
        "raw/gdc_cnv_occurrences",
        "raw/gdc_methylation_files",
        "harmonised/quarantine",
    ],
)
def test_lazy_scan_and_null_masks_give_the_report_of_the_whole_frame(frames, table_name, tmp_path, monkeypatch) -> None:
    frame = frames[table_name]
    masked = validate_table(table_name, frame, release=RELEASE, previous_row_count=frame.height)
    frame.write_parquet(tmp_path / "partition.parquet")
    lazy = validate_table(
        table_name, pl.scan_parquet(tmp_path / "partition.parquet"), release=RELEASE, previous_row_count=frame.height
    )
    with monkeypatch.context() as patched:
        patched.setattr(quality.runner, "_null_checked_only", lambda table: frozenset())
        whole = validate_table(table_name, frame, release=RELEASE, previous_row_count=frame.height)

    failed_not_null = [
        row
        for row in whole.results
        if row["expectation_type"] == "expect_column_values_to_not_be_null" and not row["success"]
    ]
    assert failed_not_null and all(row["unexpected_row_keys"] for row in failed_not_null)
    assert _comparable(masked) == _comparable(whole)
    assert _comparable(lazy) == _comparable(whole)
