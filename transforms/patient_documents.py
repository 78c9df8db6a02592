"""The one pass over the case documents of the patients transform (transforms.patients): each document's
JSON is parsed once, in one pass that only *reads* the values the patient table needs, as text, exactly as
GDC sent them; all interpretation is left to polars (transforms.patient_fields).

  * Values are read wherever the release put them (section 2.4 of GDC_API_FACTS: vital status on diagnoses
    before DR17, `sex_at_birth` vs `gender`, follow-up days on diagnoses and/or follow_ups).
  * the primary diagnosis of a case with several (DR42 added `_diagnosis2`, recurrences, ...) is the one
    with the highest (diagnosis_is_primary_disease true, classification_of_tumor `primary`, submitter_id
    ending in plain `_diagnosis`, classification not recurrence/metastasis), ties broken by submitter_id
    then list position (GDC list order is not guaranteed). Its fields feed age, histology, grade and
    treatments; follow-up days are taken from *all* diagnoses.
  * Follow-up days and treatment records are collected as long lists (`Extraction`), the baseline Karnofsky
    score is the one nearest diagnosis; documents that are not JSON objects, and entities that are not
    objects, become error rows (`invalid_json`, `malformed_document`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from transforms import vocabularies as vocab
from transforms.patient_checks import INVALID_JSON, MALFORMED_DOCUMENT, UNENCODABLE_TEXT, with_keys

_PLAIN_DIAGNOSIS_ID = re.compile(r"_diagnosis$")


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


class Extraction:
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


def _child_list(doc: dict[str, Any], key: str, row: int, out: Extraction, path: str) -> list[dict[str, Any]]:
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


# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or a \uDC00-\uDFFF one not preceded by one: half
# a UTF-16 pair (what transforms.raw_tables escapes such text as).
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _parse_document(row: int, document: str | None, out: Extraction) -> dict[str, Any] | None:
    """The document as a JSON object, or None (with an invalid_json / malformed_document error) if it is not one."""
    try:
        doc = json.loads(document) if document is not None else None
    except (json.JSONDecodeError, TypeError) as error:
        out.error(row, "document", (document or "")[:200], INVALID_JSON, f"is not valid JSON ({error})")
        return None
    if not isinstance(doc, dict):
        out.error(row, "document", document, MALFORMED_DOCUMENT, "is not a JSON object")
        return None
    if "\\u" in document and (match := _LONE_SURROGATE.search(document)) is not None:
        start = max(0, match.start() - 60)
        out.error(
            row,
            "document",
            document[start : match.end() + 60],
            UNENCODABLE_TEXT,
            f"holds the lone surrogate {match.group(0)}, text no UTF-8 table can hold",
        )
        return None
    return doc


def _demographic(doc: dict[str, Any], row: int, out: Extraction) -> dict[str, Any]:
    """The demographic object; absent/null reads as empty, a non-object as empty with a malformed_document error."""
    demographic = doc.get("demographic")
    if demographic is None:
        return {}
    if not isinstance(demographic, dict):
        out.error(row, "demographic", demographic, MALFORMED_DOCUMENT, "is not an object")
        return {}
    return demographic


def _primary_diagnosis(diagnoses: list[dict[str, Any]], row: int, out: Extraction) -> tuple[dict[str, Any], str]:
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


def _collect_follow_ups(doc: dict[str, Any], diagnoses: list[dict[str, Any]], row: int, out: Extraction) -> str | None:
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


def _collect_treatments(primary: dict[str, Any], row: int, out: Extraction) -> None:
    """Records the raw treatment texts of the primary diagnosis (the flags are derived from them vectorised)."""
    for treatment in _child_list(primary, "treatments", row, out, "diagnoses.treatments"):
        kind, given, agent = _texts(treatment, ("treatment_type", "treatment_or_therapy", "therapeutic_agents"))
        out.treatment_rows.append(row)
        out.treatment_types.append(kind)
        out.treatment_given.append(given)
        out.treatment_agents.append(agent)


def _extract(row: int, document: str | None, out: Extraction) -> tuple[Any, ...]:
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


# --- the pass, in batches --------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """The one pass over the documents: raw text columns per case row, and what the pass collected."""

    frame: pl.DataFrame  # cases without documents + _SCALAR_COLUMNS + lookup keys
    documents: pl.DataFrame  # row, document (kept apart: joins would otherwise copy every JSON text)
    extraction: Extraction


def parse_documents(cases: pl.DataFrame, batch_rows: int) -> Parsed:
    """The one pass: parses each document once into raw text columns; all interpretation is left to polars.

    `batch_rows` documents are Python objects at a time (transforms.patients.PARSE_BATCH_ROWS)."""
    out = Extraction()
    schema = {name: pl.String for name in _SCALAR_COLUMNS}
    documents_column = cases.get_column("document")
    parts = []
    for start in range(0, cases.height, batch_rows):
        batch = documents_column.slice(start, batch_rows).to_list()
        rows = [_extract(start + offset, document, out) for offset, document in enumerate(batch)]
        parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    fields = pl.concat(parts, rechunk=True) if parts else pl.DataFrame([], schema=schema, orient="row")
    documents = cases.select("row", "document")
    frame = with_keys(pl.concat([cases.drop("document"), fields], how="horizontal"), _VOCABULARY_COLUMNS)
    return Parsed(frame=frame, documents=documents, extraction=out)
