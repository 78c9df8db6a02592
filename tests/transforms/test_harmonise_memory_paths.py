"""The memory-saving paths of the harmonise transforms give exactly the frames of the plain path.

The assets pass lazy Parquet scans to `call_molecular_markers` (only the needed columns are read; documents
are fetched by row for the quarantined records only), JSON is decoded `DECODE_BATCH_ROWS` at a time, and
`harmonise_patients` parses `PARSE_BATCH_ROWS` documents at a time. On a small synthetic two-release cohort
with recorded bad values, plus marker defects of every kind injected into the raw tables, each path must
give the same rows in the same order as eager DataFrames decoded in one piece.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import transforms.markers
import transforms.patients
from contracts.schemas import QUARANTINE_SCHEMA
from sandbox.bundle_tables import raw_tables_from_bundle
from sandbox.synthetic import CohortSpec, write_multi_release
from transforms.markers import MolecularMarkers, call_molecular_markers
from transforms.patients import harmonise_patients

RELEASES = ("45.0", "46.0")


def _every_nth(n: int) -> pl.Expr:
    return pl.int_range(pl.len()) % n == 0


def _with_marker_defects(raw) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Orphan and unprofiled occurrences, unknown / missing cnv changes, undecodable ssm and case documents,
    ssm without consequence, occurrences without ssm_id, betas out of range."""
    cases = raw.cases.with_columns(
        pl.when(_every_nth(41))
        .then(pl.lit("[1, 2]"))
        .when(_every_nth(11))
        .then(pl.col("document").str.replace('"cnv"', '"not-cnv"'))
        .when(_every_nth(13))
        .then(pl.col("document").str.replace('"ssm"', '"not-ssm"'))
        .otherwise(pl.col("document"))
        .alias("document")
    )
    # An ssm document is decoded once per ssm_id (its first occurrence): broken ones get an ssm_id of their own.
    own_ssm = _every_nth(31) | _every_nth(43)
    ssm = raw.ssm_occurrences.with_columns(
        pl.when(_every_nth(19)).then(pl.lit("orphan-case")).otherwise(pl.col("case_id")).alias("case_id"),
        pl.when(_every_nth(31))
        .then(pl.lit("{not json"))
        .when(_every_nth(43))
        .then(pl.lit('{"ssm": {"chromosome": "chr1", "consequence": []}}'))
        .otherwise(pl.col("document"))
        .alias("document"),
        pl.when(_every_nth(37))
        .then(None)
        .when(own_ssm)
        .then(pl.format("broken-{}", pl.int_range(pl.len())))
        .otherwise(pl.col("ssm_id"))
        .alias("ssm_id"),
    )
    cnv = raw.cnv_occurrences.with_columns(
        pl.when(_every_nth(17))
        .then(pl.lit("Weird"))
        .otherwise(pl.col("cnv_change_5_category"))
        .alias("cnv_change_5_category"),
        pl.when(_every_nth(23)).then(pl.lit("orphan-case")).otherwise(pl.col("case_id")).alias("case_id"),
        pl.when(_every_nth(29)).then(None).otherwise(pl.col("cnv_change")).alias("cnv_change"),
    ).with_columns(
        pl.when(_every_nth(29)).then(None).otherwise(pl.col("cnv_change_5_category")).alias("cnv_change_5_category"),
    )
    betas = raw.mgmt_probe_betas.with_columns(pl.when(_every_nth(13)).then(1.5).otherwise(pl.col("beta")).alias("beta"))
    return cases, ssm, cnv, betas


@pytest.fixture(scope="module")
def raw_releases(tmp_path_factory) -> dict[str, tuple[pl.DataFrame, ...]]:
    root = tmp_path_factory.mktemp("harmonise_paths")
    write_multi_release(
        root,
        CohortSpec(n_cases=150, seed=5, release_label="45.0", bad_value_share=0.3),
        releases=RELEASES,
        change_share=0.2,
    )
    return {release: _with_marker_defects(raw_tables_from_bundle(root, release)) for release in RELEASES}


def _scans(frames: tuple[pl.DataFrame, ...], directory: Path) -> list[pl.LazyFrame]:
    directory.mkdir(parents=True, exist_ok=True)
    scans = []
    for index, frame in enumerate(frames):
        frame.write_parquet(directory / f"{index}.parquet")
        scans.append(pl.scan_parquet(directory / f"{index}.parquet"))
    return scans


def _assert_same_markers(actual: MolecularMarkers, expected: MolecularMarkers) -> None:
    assert_frame_equal(actual.markers, expected.markers)
    # The conflicting-MGMT-tests part comes from a group_by, whose row order is not defined.
    columns = list(QUARANTINE_SCHEMA)
    assert_frame_equal(
        actual.quarantine.sort(columns, nulls_last=True), expected.quarantine.sort(columns, nulls_last=True)
    )


@pytest.mark.parametrize("release", RELEASES)
def test_marker_calls_from_lazy_scans_and_decoded_in_batches_equal_the_eager_one_piece_calls(
    raw_releases, release, tmp_path, monkeypatch
) -> None:
    frames = raw_releases[release]
    monkeypatch.setattr(transforms.markers, "DECODE_BATCH_ROWS", 10**9)
    eager = call_molecular_markers(*frames, release=release)
    reasons = set(eager.quarantine["reason"])
    assert {
        "orphan_occurrence",
        "occurrence_for_unprofiled_case",
        "unknown_cnv_category",
        "missing_cnv_change",
        "undecodable_case_document",
        "undecodable_ssm_document",
        "ssm_without_consequence",
        "beta_out_of_range",
    } <= reasons

    monkeypatch.setattr(transforms.markers, "DECODE_BATCH_ROWS", 7)  # batches, and bad rows inside some of them
    _assert_same_markers(call_molecular_markers(*_scans(frames, tmp_path), release=release), eager)
    _assert_same_markers(call_molecular_markers(*frames, release=release), eager)


@pytest.mark.parametrize("release", RELEASES)
def test_patients_parsed_in_batches_equal_the_one_batch_pass(raw_releases, release, monkeypatch) -> None:
    cases = raw_releases[release][0]
    monkeypatch.setattr(transforms.patients, "PARSE_BATCH_ROWS", 10**9)
    whole = harmonise_patients(cases)
    assert whole.quarantine.height > 0 and whole.notes.height > 0
    monkeypatch.setattr(transforms.patients, "PARSE_BATCH_ROWS", 7)
    batched = harmonise_patients(cases)
    assert_frame_equal(batched.patients, whole.patients)
    assert_frame_equal(batched.quarantine, whole.quarantine)
    assert_frame_equal(batched.notes, whole.notes)
