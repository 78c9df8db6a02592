"""raw/gdc_cases -> harmonised/patients (+ quarantine): one row per case and release.

Every case of the raw table ends up in exactly one place: a row of `patients`, or one or more rows of
`quarantine` (one per problem found, each naming case, field and value). `reconcile_case_counts` checks
that, and the asset checks call it.

How it is built, and why — `harmonise_patients` runs these stages in order:
  * here, before any parsing: duplicate documents of one (release, case_id): byte-identical ones
    (raw_cases_table writes key-sorted JSON) collapse to one, with a note; differing ones quarantine the case
    (every document, reason `conflicting_duplicate_documents`), since nothing says which one is right. Rows
    without a case id are quarantined too.
  * transforms.patient_documents: each document's JSON is parsed once, in one pass that only *reads* the
    values the patient table needs (as text, exactly as GDC sent them) — wherever the release put them — and
    picks the primary diagnosis of a case with several (`pick_primary_diagnosis`).
  * transforms.patient_fields: everything else — vocabulary maps, number parsing, range checks, the survival
    rule, the treatment flags — is vectorised polars over those columns, one reader per field family, each
    returning its error and note rows (reason codes and shared checks in transforms.patient_checks).
  * here: the error rows become quarantine rows (one per problem), the cases without any error become
    patients rows, and the notes are gathered.

Counting (what `reconcile_case_counts` checks): the unit is a distinct (release, case_id) of the raw
table, plus each raw row without any case id. Each is either one patients row or quarantined (one or
more quarantine rows of table `raw/gdc_cases`), never both, never neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from contracts.schemas import PATIENTS_SCHEMA, QUARANTINE_SCHEMA
from transforms.patient_checks import (
    AGE_OUT_OF_RANGE,
    CONFLICTING_DUPLICATE_DOCUMENTS,
    DUPLICATE_SUBMITTER_ID,
    ERROR_SCHEMA,
    INVALID_BARCODE,
    INVALID_JSON,
    INVALID_KARNOFSKY_SCORE,
    INVALID_NUMBER,
    MALFORMED_DOCUMENT,
    MISSING_CASE_ID,
    MISSING_REQUIRED_FIELD,
    UNENCODABLE_TEXT,
    UNMAPPED_VALUE,
    Step,
)
from transforms.patient_documents import Extraction, parse_documents, pick_primary_diagnosis
from transforms.patient_fields import (
    read_age,
    read_demographics,
    read_histology,
    read_karnofsky,
    read_treatments,
    read_vital_status,
    read_who_grade,
    structural_errors,
    survival_endpoint,
)
from transforms.quarantine import MAX_VALUE_CHARS, truncated_text

# The reason codes and the primary-diagnosis rule callers (and tests) read from here, where they were
# defined before the stages got their own modules.
__all__ = [
    "AGE_OUT_OF_RANGE",
    "CASES_TABLE",
    "CONFLICTING_DUPLICATE_DOCUMENTS",
    "DUPLICATE_SUBMITTER_ID",
    "INVALID_BARCODE",
    "INVALID_JSON",
    "INVALID_KARNOFSKY_SCORE",
    "INVALID_NUMBER",
    "MALFORMED_DOCUMENT",
    "MISSING_CASE_ID",
    "MISSING_REQUIRED_FIELD",
    "NOTES_SCHEMA",
    "PARSE_BATCH_ROWS",
    "UNENCODABLE_TEXT",
    "UNMAPPED_VALUE",
    "HarmonisedPatients",
    "harmonise_patients",
    "pick_primary_diagnosis",
    "reconcile_case_counts",
]

CASES_TABLE = "raw/gdc_cases"


# Observations that did not reject the case but that an analyst may want to see (which diagnosis was
# taken, histology read from morphology, duplicates collapsed, ...). Not part of the contract tables.
NOTES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "field": pl.String(),
    "value": pl.String(),
    "note": pl.String(),
}


@dataclass(frozen=True)
class HarmonisedPatients:
    patients: pl.DataFrame  # PATIENTS_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA, table = raw/gdc_cases
    notes: pl.DataFrame  # NOTES_SCHEMA


# --- the transform: a list of stages ---------------------------------------------------------------


@dataclass(frozen=True)
class _CaseSplit:
    """The raw rows sorted before any parsing: the cases to parse, and the rows set aside."""

    cases: pl.DataFrame  # one row per (release, case_id), numbered `row`: what gets parsed
    missing_id: pl.DataFrame  # rows without a case id
    conflicting: pl.DataFrame  # every document of a case whose duplicates differ
    collapsed: pl.DataFrame  # the extra copies of byte-identical duplicates


# Documents turned into Python objects at a time: the texts of a batch become a polars frame before the next
# batch is read, so the pass holds one batch of Python strings, not every document of the release.
# Set here, read at each call and passed to the pass, so one setting governs it.
PARSE_BATCH_ROWS = 5_000


def harmonise_patients(raw_cases: pl.DataFrame) -> HarmonisedPatients:
    """raw/gdc_cases (RAW_CASES_SCHEMA) -> patients (PATIENTS_SCHEMA) + quarantine + notes."""
    split = _split_duplicates(raw_cases)
    pre_quarantine = _pre_quarantine(split)
    pre_notes = _collapsed_duplicate_notes(split)
    parsed = parse_documents(split.cases, PARSE_BATCH_ROWS)

    checked = structural_errors(parsed)
    demographics = read_demographics(checked.frame)
    vital_status = read_vital_status(demographics.frame)
    age = read_age(vital_status.frame)
    histology = read_histology(age.frame)
    grade = read_who_grade(histology.frame)
    karnofsky = read_karnofsky(grade.frame)
    treatments = read_treatments(karnofsky.frame, parsed.extraction)
    survival = survival_endpoint(treatments.frame, parsed.extraction)
    steps = (checked, demographics, vital_status, age, histology, grade, karnofsky, treatments, survival)

    error_rows = _error_rows(steps)
    keys = survival.frame.select("row", "release", "case_id", "submitter_id")
    quarantine = _quarantine_rows(pre_quarantine, error_rows, keys, parsed.documents)
    patients = _assemble_patients(survival.frame, error_rows)
    notes = _note_rows(pre_notes, steps, parsed.extraction, keys)
    return HarmonisedPatients(patients=patients, quarantine=quarantine, notes=notes)


def _split_duplicates(raw_cases: pl.DataFrame) -> _CaseSplit:
    """Sets aside rows without a case id and duplicate documents before parsing, so each case is parsed once."""
    raw = raw_cases.select("release", "case_id", "submitter_id", "project_id", "document").with_row_index("raw_row")
    # Only keys seen more than once have their documents compared (hashing every JSON text would cost
    # more than the rest of the transform).
    counted = raw.with_columns(pl.len().over("release", "case_id").alias("_copies"))
    no_id = counted.filter(pl.col("case_id").is_null())
    repeated = counted.filter(pl.col("case_id").is_not_null() & (pl.col("_copies") > 1)).with_columns(
        pl.col("document").n_unique().over("release", "case_id").alias("_versions"),
        pl.col("raw_row").min().over("release", "case_id", "document").alias("_first_of_version"),
    )
    conflicting = repeated.filter(pl.col("_versions") > 1)
    collapsed = repeated.filter((pl.col("_versions") == 1) & (pl.col("raw_row") != pl.col("_first_of_version")))
    cases = (
        counted.filter(pl.col("case_id").is_not_null())
        .join(pl.concat([conflicting.select("raw_row"), collapsed.select("raw_row")]), on="raw_row", how="anti")
        .sort("raw_row")
        .drop("_copies", "raw_row")
        .with_row_index("row")
    )
    return _CaseSplit(cases=cases, missing_id=no_id, conflicting=conflicting, collapsed=collapsed)


def _pre_quarantine(split: _CaseSplit) -> list[pl.DataFrame]:
    """Quarantine rows (no table yet) for cases rejected unparsed: no case id, or duplicates that differ."""
    return [
        split.missing_id.select(
            "release",
            "case_id",
            "submitter_id",
            pl.lit("case_id").alias("field"),
            pl.lit(None, dtype=pl.String).alias("value"),
            pl.lit(MISSING_CASE_ID).alias("reason"),
            pl.format(
                "case {} (no case_id), release {}: case_id = missing — the document has neither case_id nor id",
                pl.col("submitter_id").fill_null("?"),
                pl.col("release").fill_null("?"),
            ).alias("detail"),
            pl.col("document").alias("record"),
        ),
        split.conflicting.select(
            "release",
            "case_id",
            "submitter_id",
            pl.lit("case_id").alias("field"),
            pl.col("case_id").alias("value"),
            pl.lit(CONFLICTING_DUPLICATE_DOCUMENTS).alias("reason"),
            pl.format(
                "case {} ({}), release {}: case_id = {} — {} documents with {} different contents; cannot tell which is right",
                pl.col("submitter_id").fill_null("?"),
                "case_id",
                pl.col("release").fill_null("?"),
                "case_id",
                "_copies",
                "_versions",
            ).alias("detail"),
            pl.col("document").alias("record"),
        ),
    ]


def _collapsed_duplicate_notes(split: _CaseSplit) -> pl.DataFrame:
    """Notes (NOTES_SCHEMA columns) naming each identical duplicate collapsed, so the collapse stays visible."""
    return split.collapsed.select(
        "release",
        "case_id",
        "submitter_id",
        pl.lit("case_id").alias("field"),
        pl.col("case_id").alias("value"),
        pl.format("identical duplicate document (raw row {}) collapsed into one", "raw_row").alias("note"),
    )


def _error_rows(steps: tuple[Step, ...]) -> pl.DataFrame:
    """Every stage's error rows as one ERROR_SCHEMA frame, in stage order: each rejects its case row."""
    return pl.concat(
        [
            e.select(list(ERROR_SCHEMA)).cast(ERROR_SCHEMA)  # type: ignore[arg-type]
            for step in steps
            for e in step.errors
        ]
    )


def _quarantine_rows(
    pre_quarantine: list[pl.DataFrame], error_rows: pl.DataFrame, keys: pl.DataFrame, documents: pl.DataFrame
) -> pl.DataFrame:
    """QUARANTINE_SCHEMA: the unparsed rejections, then one row per error naming case, field, value, document."""
    error_rows = error_rows.with_columns(truncated_text("value"))
    return (
        pl.concat(
            [
                *[
                    q.with_columns(pl.lit(CASES_TABLE).alias("table"), truncated_text("value")).select(
                        list(QUARANTINE_SCHEMA)
                    )
                    for q in pre_quarantine
                ],
                error_rows.join(keys, on="row", how="left")
                .join(documents, on="row", how="left")
                .select(
                    "release",
                    pl.lit(CASES_TABLE).alias("table"),
                    "case_id",
                    "submitter_id",
                    "field",
                    "value",
                    "reason",
                    pl.format(
                        "case {} ({}), release {}: {} = {}, which {}",
                        pl.when(pl.col("submitter_id") != "").then(pl.col("submitter_id")).otherwise(pl.lit("?")),
                        "case_id",
                        "release",
                        "field",
                        pl.col("value").fill_null("missing"),
                        "explanation",
                    ).alias("detail"),
                    pl.col("document").alias("record"),
                ),
            ]
        )
        .cast(QUARANTINE_SCHEMA)
        .with_columns(truncated_text("detail", 4 * MAX_VALUE_CHARS))
    )  # type: ignore[arg-type]


def _assemble_patients(frame: pl.DataFrame, error_rows: pl.DataFrame) -> pl.DataFrame:
    """PATIENTS_SCHEMA: the case rows without any error, in raw order, mapped race/ethnicity replacing the raw text."""
    rejected = error_rows.select("row").unique()
    return (
        frame.join(rejected, on="row", how="anti")
        .sort("row")
        .with_columns(
            pl.col("race_mapped").alias("race"),
            pl.col("ethnicity_mapped").alias("ethnicity"),
        )
        .select(list(PATIENTS_SCHEMA))
        .cast(PATIENTS_SCHEMA)  # type: ignore[arg-type]
    )


def _note_rows(
    pre_notes: pl.DataFrame, steps: tuple[Step, ...], extraction: Extraction, keys: pl.DataFrame
) -> pl.DataFrame:
    """NOTES_SCHEMA: collapsed duplicates, then the stages' notes, then the pass's (primary diagnosis picks)."""
    pass_notes = pl.DataFrame(
        extraction.notes,
        schema={"row": pl.UInt32, "field": pl.String, "value": pl.String, "note": pl.String},
        orient="row",
    )
    note_rows = pl.concat(
        [
            n.select("row", "field", "value", "note").cast(pl.String).with_columns(pl.col("row").cast(pl.UInt32))
            for n in [*(n for step in steps for n in step.notes), pass_notes]
        ]
    )
    return pl.concat(
        [
            pre_notes.cast(NOTES_SCHEMA),  # type: ignore[arg-type]
            note_rows.join(keys, on="row", how="left").select(list(NOTES_SCHEMA)).cast(NOTES_SCHEMA),  # type: ignore[arg-type]
        ]
    )


# --- reconciliation --------------------------------------------------------------------------------


def reconcile_case_counts(raw_cases: pl.DataFrame, patients: pl.DataFrame, quarantine: pl.DataFrame) -> dict[str, Any]:
    """Does every raw case end up in exactly one of patients / quarantine?

    Unit: a distinct (release, case_id) of raw/gdc_cases; raw rows without a case id count one each
    (each gets exactly one `missing_case_id` quarantine row). Returns the counts and `reconciles`:
    raw cases == patients + quarantined cases, no case in both, none in neither, no unknown case, and no
    duplicate patients row.
    """
    key = ["release", "case_id"]
    raw_keys = raw_cases.filter(pl.col("case_id").is_not_null()).select(key).unique()
    raw_without_id = raw_cases.filter(pl.col("case_id").is_null()).height
    patient_keys = patients.select(key).unique()
    case_quarantine = quarantine.filter(pl.col("table") == CASES_TABLE)
    quarantined_keys = case_quarantine.filter(pl.col("case_id").is_not_null()).select(key).unique()
    quarantined_without_id = case_quarantine.filter(
        pl.col("case_id").is_null() & (pl.col("reason") == MISSING_CASE_ID)
    ).height
    in_both = patient_keys.join(quarantined_keys, on=key, how="semi")
    neither = raw_keys.join(patient_keys, on=key, how="anti").join(quarantined_keys, on=key, how="anti")
    unknown = pl.concat([patient_keys, quarantined_keys]).unique().join(raw_keys, on=key, how="anti")
    raw_count = raw_keys.height + raw_without_id
    accounted = patients.height + quarantined_keys.height + quarantined_without_id
    result: dict[str, Any] = {
        "raw_rows": raw_cases.height,
        "raw_cases": raw_count,
        "raw_duplicate_rows": raw_cases.height - raw_keys.height - raw_without_id,
        "patients": patients.height,
        "patients_duplicate_rows": patients.height - patient_keys.height,
        "quarantined_cases": quarantined_keys.height + quarantined_without_id,
        "quarantine_rows": case_quarantine.height,
        "cases_in_both": in_both.height,
        "cases_in_neither": neither.height,
        "unknown_cases": unknown.height,
        "examples_in_both": in_both.get_column("case_id").head(5).to_list(),
        "examples_in_neither": neither.get_column("case_id").head(5).to_list(),
        "examples_unknown": unknown.get_column("case_id").head(5).to_list(),
    }
    result["reconciles"] = (
        raw_count == accounted
        and in_both.height == 0
        and neither.height == 0
        and unknown.height == 0
        and patients.height == patient_keys.height
    )
    return result
