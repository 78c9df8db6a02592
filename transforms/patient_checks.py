"""The vectorised checks of the patients transform (transforms.patients): its quarantine reason codes, the
error rows every field reader returns, number parsing and vocabulary lookups over the raw text columns.

A field reader (transforms.patient_fields) hands on a `Step`: the case frame with its new columns, and the
error rows (`ERROR_SCHEMA`: case row, field, value, reason, explanation) and note rows it found. An error row
rejects its case; transforms.patients turns the error rows into quarantine rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms import vocabularies as vocab

# Reason codes of the quarantine rows the patients transform writes (the survival rule's own are in
# transforms.survival).
MISSING_CASE_ID = "missing_case_id"
MISSING_REQUIRED_FIELD = "missing_required_field"
CONFLICTING_DUPLICATE_DOCUMENTS = "conflicting_duplicate_documents"
INVALID_JSON = "invalid_json"
MALFORMED_DOCUMENT = "malformed_document"
UNENCODABLE_TEXT = "unencodable_text"
UNMAPPED_VALUE = "unmapped_value"
INVALID_NUMBER = "invalid_number"
AGE_OUT_OF_RANGE = "age_out_of_range"
INVALID_KARNOFSKY_SCORE = "invalid_karnofsky_score"
INVALID_BARCODE = "invalid_barcode"
DUPLICATE_SUBMITTER_ID = "duplicate_submitter_id"

ERROR_SCHEMA = {
    "row": pl.UInt32,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "explanation": pl.String,
}


@dataclass(frozen=True)
class Step:
    """What a stage hands on: the case frame with its new columns, and the error and note rows it found."""

    frame: pl.DataFrame
    errors: list[pl.DataFrame]  # columns of ERROR_SCHEMA
    notes: list[pl.DataFrame]  # row, field, value, note


def number(column: str) -> pl.Expr:
    """Parsed number of a raw text column; null for missing, sentinel or not-a-number text."""
    parsed = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(parsed.is_finite()).then(parsed)


def number_errors(
    frame: pl.DataFrame, column: str, field: str | pl.Expr, explanation: str, only_when: pl.Expr | None = None
) -> pl.DataFrame:
    """Rows whose text in `column` is neither a number nor a sentinel."""
    candidates = frame.filter(pl.col(column).is_not_null() & number(column).is_null())
    condition = ~vocab.sentinel_expr(pl.col(column))
    if only_when is not None:
        condition = condition & only_when
    return error_frame(candidates, condition.fill_null(False), field, pl.col(column), INVALID_NUMBER, explanation)


def lookup_key(column: str) -> str:
    return f"_key_{column}"


def with_keys(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Normalised lookup keys, computed once per column (the costly part of every vocabulary lookup)."""
    return frame.with_columns(vocab.normalised_expr(pl.col(c)).alias(lookup_key(c)) for c in columns)


def mapped(vocabulary: vocab.Vocabulary, column: str) -> pl.Expr:
    return vocabulary.expr(pl.col(lookup_key(column)), normalised=True)


def error_frame(
    frame: pl.DataFrame,
    condition: pl.Expr,
    field: str | pl.Expr,
    value: pl.Expr,
    reason: str,
    explanation: str | pl.Expr,
) -> pl.DataFrame:
    return frame.filter(condition).select(
        pl.col("row"),
        (pl.lit(field) if isinstance(field, str) else field).cast(pl.String).alias("field"),
        value.cast(pl.String).alias("value"),
        pl.lit(reason).alias("reason"),
        (pl.lit(explanation) if isinstance(explanation, str) else explanation).cast(pl.String).alias("explanation"),
    )


ERROR_SCHEMA = {
    "row": pl.UInt32,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "explanation": pl.String,
}


def unmapped(
    frame: pl.DataFrame, column: str, vocabulary: vocab.Vocabulary, field: str, only_when: pl.Expr | None = None
) -> pl.DataFrame:
    condition = vocabulary.unmapped_expr(pl.col(lookup_key(column)), normalised=True)
    if only_when is not None:
        condition = condition & only_when
    return error_frame(
        frame,
        condition,
        field,
        pl.col(column),
        UNMAPPED_VALUE,
        f"is not a known {vocabulary.family} spelling nor a sentinel (add it to transforms/vocabularies.py)",
    )
