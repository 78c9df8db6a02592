"""raw/gdc_cases -> harmonised/patients (+ quarantine): one row per case and release.

Every case of the raw table ends up in exactly one place: a row of `patients`, or one or more rows of
`quarantine` (one per problem found, each naming case, field and value). `reconcile_case_counts` checks
that, and the asset checks call it.

How it is built, and why:
  * each document's JSON is parsed once, in one pass that only *reads* the values the patient table
    needs (as text, exactly as GDC sent them) — wherever the release put them (section 2.4 of
    GDC_API_FACTS: vital status on diagnoses before DR17, `sex_at_birth` vs `gender`, follow-up days on
    diagnoses and/or follow_ups). Everything else — vocabulary maps, number parsing, range checks, the
    survival rule, the treatment flags, the quarantine rows — is vectorised polars over those columns.
  * the primary diagnosis of a case with several (DR42 added `_diagnosis2`, recurrences, ...) is the one
    with the highest (diagnosis_is_primary_disease true, classification_of_tumor `primary`, submitter_id
    ending in plain `_diagnosis`, classification not recurrence/metastasis), ties broken by submitter_id
    then list position (GDC list order is not guaranteed). Its fields feed age, histology, grade and
    treatments; follow-up days are taken from *all* diagnoses.
  * duplicate documents of one (release, case_id): byte-identical ones (raw_cases_table writes
    key-sorted JSON) collapse to one, with a note; differing ones quarantine the case (every document,
    reason `conflicting_duplicate_documents`), since nothing says which one is right.

Counting (what `reconcile_case_counts` checks): the unit is a distinct (release, case_id) of the raw
table, plus each raw row without any case id. Each is either one patients row or quarantined (one or
more quarantine rows of table `raw/gdc_cases`), never both, never neither.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from contracts.schemas import PATIENTS_SCHEMA, QUARANTINE_SCHEMA
from transforms import survival as surv
from transforms import vocabularies as vocab
from transforms.quarantine import MAX_VALUE_CHARS, truncated_text

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

# Reason codes of the quarantine rows written here.
MISSING_CASE_ID = "missing_case_id"
MISSING_REQUIRED_FIELD = "missing_required_field"
CONFLICTING_DUPLICATE_DOCUMENTS = "conflicting_duplicate_documents"
INVALID_JSON = "invalid_json"
MALFORMED_DOCUMENT = "malformed_document"
UNMAPPED_VALUE = "unmapped_value"
INVALID_NUMBER = "invalid_number"
AGE_OUT_OF_RANGE = "age_out_of_range"
INVALID_KARNOFSKY_SCORE = "invalid_karnofsky_score"
INVALID_BARCODE = "invalid_barcode"

TCGA_PATIENT_BARCODE = r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$"

MAX_AGE_YEARS = 120.0
DAYS_PER_YEAR = 365.25

_PLAIN_DIAGNOSIS_ID = re.compile(r"_diagnosis$")


@dataclass(frozen=True)
class HarmonisedPatients:
    patients: pl.DataFrame  # PATIENTS_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA, table = raw/gdc_cases
    notes: pl.DataFrame  # NOTES_SCHEMA


# --- the one pass over the documents ---------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A raw value as text, the way it would read in a TSV cell (JSON for objects/lists)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes"))


def _primary_rank(diagnosis: dict[str, Any]) -> tuple[int, int, int, int]:
    classification = diagnosis.get("classification_of_tumor")
    classification = classification.strip().lower() if isinstance(classification, str) else ""
    submitter_id = diagnosis.get("submitter_id")
    return (
        int(_is_true(diagnosis.get("diagnosis_is_primary_disease"))),
        int(classification == "primary"),
        int(isinstance(submitter_id, str) and bool(_PLAIN_DIAGNOSIS_ID.search(submitter_id))),
        int(classification not in ("recurrence", "metastasis", "progression")),
    )


_PICK_REASONS = ("diagnosis_is_primary_disease", "classification_of_tumor", "submitter_id", "not_recurrence")


def pick_primary_diagnosis(diagnoses: list[dict[str, Any]]) -> tuple[int | None, str]:
    """Index of the primary diagnosis among `diagnoses` (dicts) and how it was chosen (module docstring)."""
    if not diagnoses:
        return None, "no_diagnosis"
    if len(diagnoses) == 1:
        return 0, "only_diagnosis"
    ranked = sorted(
        range(len(diagnoses)),
        key=lambda i: (
            tuple(-r for r in _primary_rank(diagnoses[i])),
            str(diagnoses[i].get("submitter_id") or "\uffff"),
            i,
        ),
    )
    best, runner_up = _primary_rank(diagnoses[ranked[0]]), _primary_rank(diagnoses[ranked[1]])
    for reason, a, b in zip(_PICK_REASONS, best, runner_up, strict=True):
        if a != b:
            return ranked[0], reason
    return ranked[0], "tie_first_by_submitter_id"


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_SCALAR_COLUMNS = (
    "sex_at_birth",
    "gender",
    "race",
    "ethnicity",
    "vital_status_demographic",
    "days_to_death_demographic",
    "age_at_index",
    "vital_status_diagnosis",
    "days_to_death_diagnosis",
    "age_at_diagnosis",
    "primary_diagnosis",
    "morphology",
    "tumor_grade",
    "primary_diagnosis_submitter_id",
    "primary_pick",
    "karnofsky",
)
_DEMOGRAPHIC_KEYS = ("sex_at_birth", "gender", "race", "ethnicity", "vital_status", "days_to_death", "age_at_index")
_DIAGNOSIS_KEYS = (
    "vital_status",
    "days_to_death",
    "age_at_diagnosis",
    "primary_diagnosis",
    "morphology",
    "tumor_grade",
    "submitter_id",
)
_EMPTY_ROW: tuple[None, ...] = (None,) * len(_SCALAR_COLUMNS)
_VOCABULARY_COLUMNS = (
    "sex_at_birth",
    "gender",
    "race",
    "ethnicity",
    "vital_status_demographic",
    "vital_status_diagnosis",
    "primary_diagnosis",
    "morphology",
    "tumor_grade",
)
_TREATMENT_COLUMNS = ("treatment_type", "treatment_or_therapy", "therapeutic_agents")


class _Extraction:
    """What the single pass over the documents collects: one tuple of raw texts per case row, plus
    long lists of follow-up days and treatments, errors and notes."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.follow_up_rows: list[int] = []
        self.follow_up_fields: list[str] = []
        self.follow_up_values: list[str | None] = []
        self.treatment_rows: list[int] = []
        self.treatment_types: list[str | None] = []
        self.treatment_given: list[str | None] = []
        self.treatment_agents: list[str | None] = []
        self.errors: list[tuple[int, str, str | None, str, str]] = []  # row, field, value, reason, explanation
        self.notes: list[tuple[int, str, str | None, str]] = []  # row, field, value, note

    def error(self, row: int, field: str, value: Any, reason: str, explanation: str) -> None:
        self.errors.append((row, field, _text(value), reason, explanation))


def _child_list(doc: dict[str, Any], key: str, row: int, out: _Extraction, path: str) -> list[dict[str, Any]]:
    """A one-to-many child collection; absent/null is an empty collection (GDC_API_FACTS 7.4)."""
    value = doc.get(key)
    if value is None:
        return []
    if value.__class__ is not list:
        out.error(row, path, value, MALFORMED_DOCUMENT, "is not a list of entities")
        return []
    if all(item.__class__ is dict for item in value):
        return value
    items = []
    for item in value:
        if isinstance(item, dict):
            items.append(item)
        else:
            out.error(row, path, item, MALFORMED_DOCUMENT, "holds an entry that is not an object")
    return items


def _texts(entity: dict[str, Any], keys: tuple[str, ...]) -> list[str | None]:
    # Most values are already strings or absent: skip the conversion call for them (hot loop).
    values = []
    for key in keys:
        value = entity.get(key)
        values.append(value if value is None or value.__class__ is str else _text(value))
    return values


def _parse_document(row: int, document: str | None, out: _Extraction) -> dict[str, Any] | None:
    """The document as a JSON object, or None (with an invalid_json / malformed_document error) if it is not one."""
    try:
        doc = json.loads(document) if document is not None else None
    except (json.JSONDecodeError, TypeError) as error:
        out.error(row, "document", (document or "")[:200], INVALID_JSON, f"is not valid JSON ({error})")
        return None
    if not isinstance(doc, dict):
        out.error(row, "document", document, MALFORMED_DOCUMENT, "is not a JSON object")
        return None
    return doc


def _demographic(doc: dict[str, Any], row: int, out: _Extraction) -> dict[str, Any]:
    """The demographic object; absent/null reads as empty, a non-object as empty with a malformed_document error."""
    demographic = doc.get("demographic")
    if demographic is None:
        return {}
    if not isinstance(demographic, dict):
        out.error(row, "demographic", demographic, MALFORMED_DOCUMENT, "is not an object")
        return {}
    return demographic


def _primary_diagnosis(diagnoses: list[dict[str, Any]], row: int, out: _Extraction) -> tuple[dict[str, Any], str]:
    """The primary diagnosis (empty if none) and how it was picked, noting the pick when there was a choice."""
    primary_index, pick = pick_primary_diagnosis(diagnoses)
    primary = diagnoses[primary_index] if primary_index is not None else {}
    if len(diagnoses) > 1:
        out.notes.append(
            (
                row,
                "diagnoses.submitter_id",
                _text(primary.get("submitter_id")),
                f"primary diagnosis chosen among {len(diagnoses)} by {pick}",
            )
        )
    return primary, pick


def _collect_follow_ups(doc: dict[str, Any], diagnoses: list[dict[str, Any]], row: int, out: _Extraction) -> str | None:
    """Records every follow-up day (the survival rule takes the largest) and returns the baseline Karnofsky text."""
    for diagnosis in diagnoses:
        days = diagnosis.get("days_to_last_follow_up")
        if days is not None:
            out.follow_up_rows.append(row)
            out.follow_up_fields.append("diagnoses.days_to_last_follow_up")
            out.follow_up_values.append(_text(days))
    karnofsky_candidates: list[tuple[float, int, Any]] = []
    for position, follow_up in enumerate(_child_list(doc, "follow_ups", row, out, "follow_ups")):
        days = follow_up.get("days_to_follow_up")
        if days is not None:
            out.follow_up_rows.append(row)
            out.follow_up_fields.append("follow_ups.days_to_follow_up")
            out.follow_up_values.append(_text(days))
        score = follow_up.get("karnofsky_performance_status")
        if score is not None and not vocab.is_sentinel(score):
            day = _number_or_none(days)
            karnofsky_candidates.append((day if day is not None else math.inf, position, score))
    # The score nearest diagnosis is the baseline performance status that prognosis models use.
    return _text(min(karnofsky_candidates, key=lambda c: (c[0], c[1]))[2]) if karnofsky_candidates else None


def _collect_treatments(primary: dict[str, Any], row: int, out: _Extraction) -> None:
    """Records the raw treatment texts of the primary diagnosis (the flags are derived from them vectorised)."""
    for treatment in _child_list(primary, "treatments", row, out, "diagnoses.treatments"):
        kind, given, agent = _texts(treatment, ("treatment_type", "treatment_or_therapy", "therapeutic_agents"))
        out.treatment_rows.append(row)
        out.treatment_types.append(kind)
        out.treatment_given.append(given)
        out.treatment_agents.append(agent)


def _extract(row: int, document: str | None, out: _Extraction) -> tuple[Any, ...]:
    """One document -> its raw texts (_SCALAR_COLUMNS order); follow-ups, treatments, errors, notes go to `out`."""
    doc = _parse_document(row, document, out)
    if doc is None:
        return _EMPTY_ROW
    values = _texts(_demographic(doc, row, out), _DEMOGRAPHIC_KEYS)
    diagnoses = _child_list(doc, "diagnoses", row, out, "diagnoses")
    primary, pick = _primary_diagnosis(diagnoses, row, out)
    values += _texts(primary, _DIAGNOSIS_KEYS)
    values.append(pick)
    values.append(_collect_follow_ups(doc, diagnoses, row, out))
    if primary:
        _collect_treatments(primary, row, out)
    return tuple(values)


# --- vectorised helpers ----------------------------------------------------------------------------


def _number(column: str) -> pl.Expr:
    """Parsed number of a raw text column; null for missing, sentinel or not-a-number text."""
    parsed = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(parsed.is_finite()).then(parsed)


def _number_errors(
    frame: pl.DataFrame, column: str, field: str | pl.Expr, explanation: str, only_when: pl.Expr | None = None
) -> pl.DataFrame:
    """Rows whose text in `column` is neither a number nor a sentinel."""
    candidates = frame.filter(pl.col(column).is_not_null() & _number(column).is_null())
    condition = ~vocab.sentinel_expr(pl.col(column))
    if only_when is not None:
        condition = condition & only_when
    return _error_frame(candidates, condition.fill_null(False), field, pl.col(column), INVALID_NUMBER, explanation)


def _key(column: str) -> str:
    return f"_key_{column}"


def _with_keys(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Normalised lookup keys, computed once per column (the costly part of every vocabulary lookup)."""
    return frame.with_columns(vocab.normalised_expr(pl.col(c)).alias(_key(c)) for c in columns)


def _mapped(vocabulary: vocab.Vocabulary, column: str) -> pl.Expr:
    return vocabulary.expr(pl.col(_key(column)), normalised=True)


def _error_frame(
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


_ERROR_SCHEMA = {
    "row": pl.UInt32,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "explanation": pl.String,
}


def _unmapped(
    frame: pl.DataFrame, column: str, vocabulary: vocab.Vocabulary, field: str, only_when: pl.Expr | None = None
) -> pl.DataFrame:
    condition = vocabulary.unmapped_expr(pl.col(_key(column)), normalised=True)
    if only_when is not None:
        condition = condition & only_when
    return _error_frame(
        frame,
        condition,
        field,
        pl.col(column),
        UNMAPPED_VALUE,
        f"is not a known {vocabulary.family} spelling nor a sentinel (add it to transforms/vocabularies.py)",
    )


# --- the transform: a list of stages ---------------------------------------------------------------


@dataclass(frozen=True)
class _CaseSplit:
    """The raw rows sorted before any parsing: the cases to parse, and the rows set aside."""

    cases: pl.DataFrame  # one row per (release, case_id), numbered `row`: what gets parsed
    missing_id: pl.DataFrame  # rows without a case id
    conflicting: pl.DataFrame  # every document of a case whose duplicates differ
    collapsed: pl.DataFrame  # the extra copies of byte-identical duplicates


@dataclass(frozen=True)
class _Parsed:
    """The one pass over the documents: raw text columns per case row, and what the pass collected."""

    frame: pl.DataFrame  # cases without documents + _SCALAR_COLUMNS + lookup keys
    documents: pl.DataFrame  # row, document (kept apart: joins would otherwise copy every JSON text)
    extraction: _Extraction


@dataclass(frozen=True)
class _Step:
    """What a stage hands on: the case frame with its new columns, and the error and note rows it found."""

    frame: pl.DataFrame
    errors: list[pl.DataFrame]  # columns of _ERROR_SCHEMA
    notes: list[pl.DataFrame]  # row, field, value, note


def harmonise_patients(raw_cases: pl.DataFrame) -> HarmonisedPatients:
    """raw/gdc_cases (RAW_CASES_SCHEMA) -> patients (PATIENTS_SCHEMA) + quarantine + notes."""
    split = _split_duplicates(raw_cases)
    pre_quarantine = _pre_quarantine(split)
    pre_notes = _collapsed_duplicate_notes(split)
    parsed = _parse_documents(split.cases)

    checked = _structural_errors(parsed)
    demographics = _read_demographics(checked.frame)
    vital_status = _read_vital_status(demographics.frame)
    age = _read_age(vital_status.frame)
    histology = _read_histology(age.frame)
    grade = _read_who_grade(histology.frame)
    karnofsky = _read_karnofsky(grade.frame)
    treatments = _read_treatments(karnofsky.frame, parsed.extraction)
    survival = _survival_endpoint(treatments.frame, parsed.extraction)
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


# Documents turned into Python objects at a time: the texts of a batch become a polars frame before the next
# batch is read, so the pass holds one batch of Python strings, not every document of the release.
PARSE_BATCH_ROWS = 5_000


def _parse_documents(cases: pl.DataFrame) -> _Parsed:
    """The one pass: parses each document once into raw text columns; all interpretation is left to polars."""
    out = _Extraction()
    schema = {name: pl.String for name in _SCALAR_COLUMNS}
    documents_column = cases.get_column("document")
    parts = []
    for start in range(0, cases.height, PARSE_BATCH_ROWS):
        batch = documents_column.slice(start, PARSE_BATCH_ROWS).to_list()
        rows = [_extract(start + offset, document, out) for offset, document in enumerate(batch)]
        parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    fields = pl.concat(parts, rechunk=True) if parts else pl.DataFrame([], schema=schema, orient="row")
    documents = cases.select("row", "document")
    frame = _with_keys(pl.concat([cases.drop("document"), fields], how="horizontal"), _VOCABULARY_COLUMNS)
    return _Parsed(frame=frame, documents=documents, extraction=out)


def _structural_errors(parsed: _Parsed) -> _Step:
    """Errors of the pass (invalid JSON, malformed entities), missing required ids and non-TCGA barcodes."""
    frame = parsed.frame
    errors = [
        pl.DataFrame(parsed.extraction.errors, schema=_ERROR_SCHEMA, orient="row"),
        _error_frame(
            frame,
            pl.col("submitter_id").is_null(),
            "submitter_id",
            pl.col("submitter_id"),
            MISSING_REQUIRED_FIELD,
            "is required (TCGA barcode)",
        ),
        _error_frame(
            frame,
            pl.col("project_id").is_null(),
            "project.project_id",
            pl.col("project_id"),
            MISSING_REQUIRED_FIELD,
            "is required",
        ),
        # The patient barcode is the join key to every TCGA table (CDR, Ceccarelli, MAF barcodes' first 12).
        _error_frame(
            frame,
            (
                pl.col("project_id").str.starts_with("TCGA-")
                & ~pl.col("submitter_id").str.contains(TCGA_PATIENT_BARCODE)
            ).fill_null(False),
            "submitter_id",
            pl.col("submitter_id"),
            INVALID_BARCODE,
            "is not a TCGA patient barcode (TCGA-XX-XXXX)",
        ),
    ]
    return _Step(frame, errors, [])


def _read_demographics(frame: pl.DataFrame) -> _Step:
    """Sex (sex_at_birth, else gender: gone after API 8.5, absent before 2025), race, ethnicity, mapped."""
    sex_at_birth = _mapped(vocab.SEX, "sex_at_birth")
    frame = frame.with_columns(
        pl.coalesce(sex_at_birth, _mapped(vocab.SEX, "gender")).alias("sex"),
        _mapped(vocab.RACE, "race").alias("race_mapped"),
        _mapped(vocab.ETHNICITY, "ethnicity").alias("ethnicity_mapped"),
    )
    errors = [
        _unmapped(frame, "sex_at_birth", vocab.SEX, "demographic.sex_at_birth"),
        _unmapped(frame, "gender", vocab.SEX, "demographic.gender", only_when=sex_at_birth.is_null()),
        _unmapped(frame, "race", vocab.RACE, "demographic.race"),
        _unmapped(frame, "ethnicity", vocab.ETHNICITY, "demographic.ethnicity"),
    ]
    return _Step(frame, errors, [])


def _read_vital_status(frame: pl.DataFrame) -> _Step:
    """Vital status and death day from the demographic (DR17 on), else the primary diagnosis (before DR17)."""
    vital_demographic = _mapped(vocab.VITAL_STATUS, "vital_status_demographic")
    vital_diagnosis = _mapped(vocab.VITAL_STATUS, "vital_status_diagnosis")
    death_demographic = _number("days_to_death_demographic")
    death_diagnosis = _number("days_to_death_diagnosis")
    frame = frame.with_columns(
        pl.coalesce(vital_demographic, vital_diagnosis).alias("vital_status"),
        pl.coalesce(death_demographic, death_diagnosis).alias("days_to_death"),
        pl.when(death_demographic.is_not_null())
        .then(pl.lit("demographic.days_to_death"))
        .when(death_diagnosis.is_not_null())
        .then(pl.lit("diagnoses.days_to_death"))
        .when(vital_demographic.is_null() & vital_diagnosis.is_not_null())
        .then(pl.lit("diagnoses.days_to_death"))
        .otherwise(pl.lit("demographic.days_to_death"))
        .alias("days_to_death_field"),
    )
    errors = [
        _unmapped(frame, "vital_status_demographic", vocab.VITAL_STATUS, "demographic.vital_status"),
        _unmapped(
            frame,
            "vital_status_diagnosis",
            vocab.VITAL_STATUS,
            "diagnoses.vital_status",
            only_when=vital_demographic.is_null(),
        ),
        _number_errors(frame, "days_to_death_demographic", "demographic.days_to_death", "is not a number of days"),
        _number_errors(
            frame,
            "days_to_death_diagnosis",
            "diagnoses.days_to_death",
            "is not a number of days",
            only_when=death_demographic.is_null(),
        ),
    ]
    notes = [
        frame.filter(
            vital_demographic.is_not_null() & vital_diagnosis.is_not_null() & (vital_demographic != vital_diagnosis)
        ).select(
            "row",
            pl.lit("diagnoses.vital_status").alias("field"),
            pl.col("vital_status_diagnosis").alias("value"),
            pl.format(
                "differs from demographic.vital_status {}; demographic (the current home) used",
                "vital_status_demographic",
            ).alias("note"),
        )
    ]
    return _Step(frame, errors, notes)


def _read_age(frame: pl.DataFrame) -> _Step:
    """Age in years: age_at_diagnosis (days) / 365.25, else age_at_index (years); outside 0-120 is an error."""
    age_from_diagnosis = _number("age_at_diagnosis") / DAYS_PER_YEAR
    age_from_index = _number("age_at_index")
    frame = frame.with_columns(
        pl.coalesce(age_from_diagnosis, age_from_index).alias("age_at_diagnosis_years"),
        pl.when(age_from_diagnosis.is_not_null())
        .then(pl.lit("diagnoses.age_at_diagnosis"))
        .otherwise(pl.lit("demographic.age_at_index"))
        .alias("_age_field"),
        pl.when(age_from_diagnosis.is_not_null())
        .then(pl.col("age_at_diagnosis"))
        .otherwise(pl.col("age_at_index"))
        .alias("_age_raw"),
    )
    age = pl.col("age_at_diagnosis_years")
    errors = [
        _number_errors(frame, "age_at_diagnosis", "diagnoses.age_at_diagnosis", "is not a number of days"),
        _number_errors(
            frame,
            "age_at_index",
            "demographic.age_at_index",
            "is not a number of years",
            only_when=age_from_diagnosis.is_null(),
        ),
        _error_frame(
            frame,
            ((age < 0) | (age > MAX_AGE_YEARS)).fill_null(False),
            pl.col("_age_field"),
            pl.col("_age_raw"),
            AGE_OUT_OF_RANGE,
            pl.format("gives an age of {} years, outside 0-120", age.round(1)),
        ),
    ]
    return _Step(frame, errors, [])


def _read_histology(frame: pl.DataFrame) -> _Step:
    """Histology family from primary_diagnosis, else from the ICD-O morphology when the text holds no histology."""
    # No histology: missing, sentinel, or the 2017 model's ICD-O topography code such as `c71.9`.
    diagnosis_text = pl.col("primary_diagnosis")
    is_topography = diagnosis_text.str.strip_chars().str.contains(vocab.ICDO_TOPOGRAPHY_PATTERN).fill_null(False)
    family_from_text = _mapped(vocab.PRIMARY_DIAGNOSIS, "primary_diagnosis")
    family_from_morphology = pl.coalesce(
        _mapped(vocab.MORPHOLOGY, "morphology"),
        pl.when(pl.col("morphology").str.strip_chars().str.contains(vocab.ICDO_MORPHOLOGY_PATTERN)).then(
            pl.lit("other")
        ),
    )
    uses_morphology = family_from_text.is_null()
    frame = frame.with_columns(
        pl.coalesce(family_from_text, family_from_morphology).alias("histology_family"),
    )
    morphology_unmapped = vocab.MORPHOLOGY.unmapped_expr(pl.col(_key("morphology")), normalised=True) & ~pl.col(
        "morphology"
    ).str.strip_chars().str.contains(vocab.ICDO_MORPHOLOGY_PATTERN).fill_null(False)
    errors = [
        _unmapped(
            frame, "primary_diagnosis", vocab.PRIMARY_DIAGNOSIS, "diagnoses.primary_diagnosis", only_when=~is_topography
        ),
        _error_frame(
            frame,
            morphology_unmapped & uses_morphology,
            "diagnoses.morphology",
            pl.col("morphology"),
            UNMAPPED_VALUE,
            "is not an ICD-O-3 morphology code (####/#)",
        ),
    ]
    notes = [
        frame.filter(is_topography).select(
            "row",
            pl.lit("diagnoses.primary_diagnosis").alias("field"),
            pl.col("primary_diagnosis").alias("value"),
            pl.when(pl.col("histology_family").is_not_null())
            .then(
                pl.format(
                    "is an ICD-O topography (site) code, not a histology; histology family {} read from morphology {}",
                    "histology_family",
                    "morphology",
                )
            )
            .otherwise(
                pl.lit("is an ICD-O topography (site) code, not a histology, and no morphology code: histology unknown")
            )
            .alias("note"),
        )
    ]
    return _Step(frame, errors, notes)


def _read_who_grade(frame: pl.DataFrame) -> _Step:
    """WHO grade from tumor_grade G2-G4, else the project when it implies one (GBM -> 4), else null and why."""
    tumor_grade = _mapped(vocab.TUMOR_GRADE, "tumor_grade")
    grade_from_tumor = tumor_grade.replace_strict(vocab.WHO_GRADE_BY_TUMOR_GRADE, default=None, return_dtype=pl.Int8)
    grade_from_project = pl.col("project_id").replace_strict(
        vocab.PROJECT_IMPLIED_WHO_GRADE, default=None, return_dtype=pl.Int8
    )
    grade_missing_why = (
        pl.when(pl.col("tumor_grade").is_null())
        .then(pl.lit("tumor_grade absent"))
        .when(pl.col(_key("tumor_grade")).is_in(list(vocab.SENTINELS)))
        .then(pl.format("tumor_grade is the sentinel '{}'", "tumor_grade"))
        .otherwise(pl.format("tumor_grade '{}' is not a WHO CNS grade 2-4", "tumor_grade"))
    )
    frame = frame.with_columns(
        pl.coalesce(grade_from_tumor, grade_from_project).alias("who_grade"),
        pl.when(grade_from_tumor.is_not_null())
        .then(pl.lit("tumor_grade"))
        .when(grade_from_project.is_not_null())
        .then(pl.lit("project_gbm"))
        .alias("who_grade_source"),
        pl.when(grade_from_tumor.is_null() & grade_from_project.is_null())
        .then(
            pl.format(
                "{} and project {} does not imply a grade", grade_missing_why, pl.col("project_id").fill_null("?")
            )
        )
        .alias("who_grade_missing_reason"),
    )
    errors = [_unmapped(frame, "tumor_grade", vocab.TUMOR_GRADE, "diagnoses.tumor_grade")]
    notes = [
        frame.filter(
            (
                grade_from_project.is_not_null()
                & grade_from_tumor.is_not_null()
                & (grade_from_project != grade_from_tumor)
            ).fill_null(False)
        ).select(
            "row",
            pl.lit("diagnoses.tumor_grade").alias("field"),
            pl.col("tumor_grade").alias("value"),
            pl.format("project {} implies grade {}; tumor_grade used", "project_id", grade_from_project).alias("note"),
        )
    ]
    return _Step(frame, errors, notes)


def _read_karnofsky(frame: pl.DataFrame) -> _Step:
    """Karnofsky score: the earliest recorded one (chosen in the pass), which must be an integer 0-100."""
    karnofsky = _number("karnofsky")
    karnofsky_valid = (karnofsky >= 0) & (karnofsky <= 100) & (karnofsky == karnofsky.round(0))
    frame = frame.with_columns(pl.when(karnofsky_valid).then(karnofsky).cast(pl.Int16).alias("karnofsky_score"))
    errors = [
        _error_frame(
            frame,
            pl.col("karnofsky").is_not_null() & ~karnofsky_valid.fill_null(False),
            "follow_ups.karnofsky_performance_status",
            pl.col("karnofsky"),
            INVALID_KARNOFSKY_SCORE,
            "is not an integer score 0-100",
        )
    ]
    return _Step(frame, errors, [])


def _read_treatments(frame: pl.DataFrame, extraction: _Extraction) -> _Step:
    """The three treatment flags per case from the primary diagnosis's treatment records, which must map."""
    treatments = pl.DataFrame(
        {
            "row": extraction.treatment_rows,
            "treatment_type": extraction.treatment_types,
            "treatment_or_therapy": extraction.treatment_given,
            "therapeutic_agents": extraction.treatment_agents,
        },
        schema={
            "row": pl.UInt32,
            "treatment_type": pl.String,
            "treatment_or_therapy": pl.String,
            "therapeutic_agents": pl.String,
        },
    )
    treatments = _with_keys(treatments, _TREATMENT_COLUMNS)
    errors = [
        _unmapped(treatments, "treatment_type", vocab.TREATMENT_TYPE, "diagnoses.treatments.treatment_type"),
        _unmapped(treatments, "treatment_or_therapy", vocab.YES_NO, "diagnoses.treatments.treatment_or_therapy"),
        _unmapped(treatments, "therapeutic_agents", vocab.THERAPEUTIC_AGENT, "diagnoses.treatments.therapeutic_agents"),
    ]
    frame = frame.join(_treatment_flags(treatments), on="row", how="left")
    return _Step(frame, errors, [])


_SURVIVAL_EXPLANATIONS = {
    surv.NEGATIVE_SURVIVAL_TIME: "is a negative number of days (before diagnosis)",
    surv.DEAD_WITHOUT_DEATH_DAY: "is missing although vital_status is Dead (no event time; not guessed)",
    surv.ALIVE_WITH_DEATH_DAY: "is recorded although vital_status is Alive (contradiction)",
    surv.FOLLOW_UP_AFTER_DEATH: "is a follow-up later than the death day (contact after death: one of them is wrong)",
}


def _survival_endpoint(frame: pl.DataFrame, extraction: _Extraction) -> _Step:
    """Overall survival by the survival rule (transforms/survival.py) over death day and every follow-up day."""
    follow_up_text = pl.DataFrame(
        {"row": extraction.follow_up_rows, "field": extraction.follow_up_fields, "raw": extraction.follow_up_values},
        schema={"row": pl.UInt32, "field": pl.String, "raw": pl.String},
    )
    errors = [_number_errors(follow_up_text, "raw", pl.col("field"), "is not a number of days")]
    follow_ups_long = follow_up_text.select("row", "field", _number("raw").alias("days")).drop_nulls("days")
    frame = frame.join(surv.follow_up_summary(follow_ups_long, frame.height), on="row", how="left")
    frame = surv.overall_survival(frame)
    errors.append(
        frame.filter(pl.col("survival_rejection").is_not_null()).select(
            "row",
            pl.col("survival_rejection_field").alias("field"),
            pl.col("survival_rejection_value").alias("value"),
            pl.col("survival_rejection").alias("reason"),
            pl.col("survival_rejection")
            .replace_strict(_SURVIVAL_EXPLANATIONS, default="breaks the survival rule")
            .alias("explanation"),
        )
    )
    return _Step(frame, errors, [])


def _error_rows(steps: tuple[_Step, ...]) -> pl.DataFrame:
    """Every stage's error rows as one _ERROR_SCHEMA frame, in stage order: each rejects its case row."""
    return pl.concat(
        [
            e.select(list(_ERROR_SCHEMA)).cast(_ERROR_SCHEMA)  # type: ignore[arg-type]
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
    pre_notes: pl.DataFrame, steps: tuple[_Step, ...], extraction: _Extraction, keys: pl.DataFrame
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


def _treatment_flags(treatments: pl.DataFrame) -> pl.DataFrame:
    """received_radiation / _chemotherapy / _temozolomide per case row from its treatment records.

    A record counts as given when treatment_or_therapy is yes (or is unrecorded but an agent is named),
    as not given when it is no. A flag is True if any record of its kind was given, False if records of
    its kind exist and say no (none yes), null when nothing was recorded. Temozolomide is False also when
    chemotherapy is known not given, or when every given chemotherapy names its agents and none is TMZ.
    """
    # Each mapping computed once into a column; the flag expressions below only read columns.
    treatments = treatments.with_columns(
        _mapped(vocab.TREATMENT_TYPE, "treatment_type").alias("_category"),
        _mapped(vocab.THERAPEUTIC_AGENT, "therapeutic_agents").alias("_agent"),
        _mapped(vocab.YES_NO, "treatment_or_therapy").alias("_given_recorded"),
    ).with_columns(
        pl.coalesce(pl.col("_given_recorded"), pl.when(pl.col("_agent").is_not_null()).then(pl.lit(True))).alias(
            "_given"
        ),
    )
    category, agent, given = pl.col("_category"), pl.col("_agent"), pl.col("_given")
    is_radiation = category.is_in([vocab.RADIATION, vocab.CHEMORADIATION]).fill_null(False)
    is_chemo = category.is_in([vocab.CHEMOTHERAPY, vocab.CHEMORADIATION]).fill_null(False) | agent.is_in(
        [vocab.TEMOZOLOMIDE, vocab.CHEMOTHERAPY_AGENT]
    ).fill_null(False)
    # Map once per record, then aggregate plain boolean columns (expressions inside agg run per group).
    flags = (
        treatments.select(
            "row",
            (is_radiation & given).fill_null(False).alias("_radiation_yes"),
            (is_radiation & ~given).fill_null(False).alias("_radiation_no"),
            (is_chemo & given).fill_null(False).alias("_chemo_yes"),
            (is_chemo & ~given).fill_null(False).alias("_chemo_no"),
            ((agent == vocab.TEMOZOLOMIDE) & given).fill_null(False).alias("_tmz_yes"),
            (is_chemo & given & agent.is_null()).fill_null(False).alias("_chemo_agent_unnamed"),
        )
        .group_by("row")
        .agg(pl.all().any())
    )

    def flag(yes: str, no: str) -> pl.Expr:
        return pl.when(pl.col(yes)).then(pl.lit(True)).when(pl.col(no)).then(pl.lit(False))

    return flags.with_columns(
        flag("_radiation_yes", "_radiation_no").alias("received_radiation"),
        flag("_chemo_yes", "_chemo_no").alias("received_chemotherapy"),
    ).select(
        "row",
        "received_radiation",
        "received_chemotherapy",
        pl.when(pl.col("_tmz_yes"))
        .then(pl.lit(True))
        .when(pl.col("received_chemotherapy") == False)  # noqa: E712 (a polars expression, not a Python comparison)
        .then(pl.lit(False))
        .when(pl.col("_chemo_yes") & ~pl.col("_chemo_agent_unnamed"))
        .then(pl.lit(False))
        .alias("received_temozolomide"),
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
