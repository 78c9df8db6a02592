"""Real GDC exports -> the case documents the API returns, so they take the same path as API pulls
(`raw_tables.raw_cases_table` -> `patients.harmonise_patients`).

Three shapes (all pure functions of text / parsed JSON; the caller does the reading):

* Portal `clinical.tsv` (2020 data model, 154 columns, one row per case x diagnosis x treatment, `'--`
  for an empty cell): `clinical_tsv_case_documents`. The columns are grouped by entity in data
  dictionary order — case keys, then demographic, diagnosis and treatment properties, each group in
  alphabetical order — so a new entity starts wherever the alphabetical order restarts
  (`clinical_tsv_column_entities`). Rows of one case become one document: the demographic once, one
  diagnosis per distinct set of diagnosis cells, one treatment per row under its diagnosis.
  `'--` becomes an absent key (never a value).
* API `format=tsv` output: dotted flattening (`diagnoses.0.treatments.1.treatment_type`) or the 2016
  underscore style (`diagnoses_0_treatments_1_treatment_type`): `unflatten_tsv_row`,
  `api_tsv_case_documents`. Empty cell = absent key; `True`/`False` = booleans.
* The 2017-era cart metadata JSON (file records with `cases[]`): `cart_metadata_case_documents`. Its
  case sub-documents are already API-shaped (vital status under diagnoses, `primary_diagnosis` holding
  the ICD-O topography code `c71.9` — the harmoniser handles both); a case attached to several files is
  merged into one document (its samples united).

`flatten_document` is the inverse of `unflatten_tsv_row` (dotted style) and is what the "without loss"
tests use to compare documents with their source cells.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PORTAL_MISSING = "'--"

# Entities of the portal clinical.tsv, in column-group order (GDC data dictionary grouping).
CLINICAL_TSV_ENTITIES: tuple[str, ...] = ("case", "demographic", "diagnoses", "treatments")
_CASE_COLUMN_PATHS = {
    "case_id": ("case_id",),
    "case_submitter_id": ("submitter_id",),
    "project_id": ("project", "project_id"),
}

# Properties whose GDC type is a number (the rest are strings; Karnofsky stays a string as in the API).
_NUMERIC_PREFIXES = ("days_to_", "age_at_", "year_of_")
_NUMERIC_FIELDS = frozenset(
    {
        "occupation_duration_years",
        "weeks_gestation_at_birth",
        "breslow_thickness",
        "circumferential_resection_margin",
        "greatest_tumor_dimension",
        "gross_tumor_weight",
        "largest_extrapelvic_peritoneal_focus",
        "lymph_nodes_positive",
        "lymph_nodes_tested",
        "margin_distance",
        "mitotic_count",
        "percent_tumor_invasion",
        "peripancreatic_lymph_nodes_positive",
        "peripancreatic_lymph_nodes_tested",
        "tumor_depth",
        "tumor_largest_dimension_diameter",
        "number_of_cycles",
        "treatment_dose",
        "cigarettes_per_day",
        "years_smoked",
        "bmi",
        "height",
        "weight",
        "file_size",
    }
)
_BOOLEAN_FIELDS = frozenset({"age_is_obfuscated", "diagnosis_is_primary_disease", "is_ffpe", "oct_embedded"})
_INTEGER = re.compile(r"^-?\d+$")


class ExportFormatError(ValueError):
    """An export that cannot be turned into case documents without losing or inventing data."""


def _is_numeric_field(name: str) -> bool:
    return name.startswith(_NUMERIC_PREFIXES) or name in _NUMERIC_FIELDS


def typed_cell(field: str, text: str) -> Any:
    """A non-empty cell as the API would have sent it: numbers for numeric properties, booleans for
    boolean ones, else the text unchanged. Text that does not parse stays text (the harmoniser then
    quarantines it naming the field) — never dropped."""
    if _is_numeric_field(field):
        if _INTEGER.match(text):
            return int(text)
        try:
            return float(text)
        except ValueError:
            return text
    if field in _BOOLEAN_FIELDS or text in ("True", "False"):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return text


# --- portal clinical.tsv -----------------------------------------------------------------------------


# Properties of the 2020 data dictionary as they appear in the portal's clinical.tsv, by entity. Known
# columns pin their group; unknown ones (a newer export) follow the alphabetical-restart rule.
_DEMOGRAPHIC_COLUMNS = frozenset(
    {
        "age_at_index",
        "age_is_obfuscated",
        "cause_of_death",
        "cause_of_death_source",
        "country_of_residence_at_enrollment",
        "days_to_birth",
        "days_to_death",
        "ethnicity",
        "gender",
        "occupation_duration_years",
        "premature_at_birth",
        "race",
        "vital_status",
        "weeks_gestation_at_birth",
        "year_of_birth",
        "year_of_death",
        "sex_at_birth",
    }
)
_DIAGNOSIS_COLUMNS = frozenset(
    {
        "age_at_diagnosis",
        "classification_of_tumor",
        "days_to_diagnosis",
        "days_to_last_follow_up",
        "days_to_last_known_disease_status",
        "days_to_recurrence",
        "icd_10_code",
        "last_known_disease_status",
        "morphology",
        "primary_diagnosis",
        "prior_malignancy",
        "prior_treatment",
        "progression_or_recurrence",
        "site_of_resection_or_biopsy",
        "synchronous_malignancy",
        "tissue_or_organ_of_origin",
        "tumor_grade",
        "tumor_stage",
        "who_cns_grade",
        "year_of_diagnosis",
        "diagnosis_is_primary_disease",
    }
)
_TREATMENT_COLUMNS = frozenset(
    {
        "chemo_concurrent_to_radiation",
        "days_to_treatment_end",
        "days_to_treatment_start",
        "initial_disease_status",
        "number_of_cycles",
        "reason_treatment_ended",
        "regimen_or_line_of_therapy",
        "therapeutic_agents",
        "treatment_anatomic_site",
        "treatment_arm",
        "treatment_dose",
        "treatment_dose_units",
        "treatment_effect",
        "treatment_effect_indicator",
        "treatment_frequency",
        "treatment_intent_type",
        "treatment_or_therapy",
        "treatment_outcome",
        "treatment_type",
    }
)
_KNOWN_COLUMN_ENTITY = {
    **{c: "case" for c in _CASE_COLUMN_PATHS},
    **{c: "demographic" for c in _DEMOGRAPHIC_COLUMNS},
    **{c: "diagnoses" for c in _DIAGNOSIS_COLUMNS},
    **{c: "treatments" for c in _TREATMENT_COLUMNS},
}


def clinical_tsv_column_entities(header: Sequence[str]) -> dict[str, str]:
    """Map each clinical.tsv column to its entity. Columns come grouped by entity, each group in
    alphabetical order (GDC data dictionary order): a known property pins its group, an unknown one
    starts a new group where the alphabetical order restarts. A known property out of group order
    means a layout this reader does not know: refused."""
    entities: dict[str, str] = {}
    group = 0
    previous = ""
    for column in header:
        known = _KNOWN_COLUMN_ENTITY.get(column)
        if known is not None:
            target = CLINICAL_TSV_ENTITIES.index(known)
            if target < group:
                raise ExportFormatError(
                    f"clinical.tsv column {column!r} ({known}) comes after {CLINICAL_TSV_ENTITIES[group]} columns: "
                    "column order differs from the GDC data dictionary grouping"
                )
            group = target
        elif previous and column < previous:
            group += 1
        if group >= len(CLINICAL_TSV_ENTITIES):
            raise ExportFormatError(
                f"clinical.tsv column {column!r} starts a group beyond {CLINICAL_TSV_ENTITIES}: not the 2020 portal layout"
            )
        entities[column] = CLINICAL_TSV_ENTITIES[group]
        previous = column
    missing = [c for c in _CASE_COLUMN_PATHS if entities.get(c) != "case"]
    if missing:
        raise ExportFormatError(f"clinical.tsv lacks case key columns {missing}")
    return entities


def _tsv_rows(tsv_text: str) -> tuple[list[str], list[list[str]]]:
    # Portal TSVs are not quoted (cells may contain a lone `'`), so no quote handling.
    lines = tsv_text.lstrip("\ufeff").splitlines()
    if not lines:
        raise ExportFormatError("empty TSV")
    header = lines[0].split("\t")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ExportFormatError(f"TSV line {number} has {len(cells)} cells, header has {len(header)}")
        rows.append(cells)
    return header, rows


def clinical_tsv_case_documents(tsv_text: str) -> list[dict[str, Any]]:
    """Portal clinical.tsv text -> one API-shaped case document per case (first-seen order)."""
    header, rows = _tsv_rows(tsv_text)
    entities = clinical_tsv_column_entities(header)
    columns_of = {
        entity: [i for i, c in enumerate(header) if entities[c] == entity] for entity in CLINICAL_TSV_ENTITIES
    }
    case_id_at = header.index("case_id")

    by_case: dict[str, list[list[str]]] = {}
    for cells in rows:
        by_case.setdefault(cells[case_id_at], []).append(cells)

    documents = []
    for case_id, case_rows in by_case.items():
        first = case_rows[0]
        # Case-level and demographic cells are one per case; differing rows would need a second
        # document, which the API never returns, so say so instead of picking one.
        for index in columns_of["case"] + columns_of["demographic"]:
            values = {cells[index] for cells in case_rows}
            if len(values) > 1:
                raise ExportFormatError(
                    f"clinical.tsv case {case_id}: column {header[index]} has different values {sorted(values)} "
                    "across the case's rows"
                )
        document: dict[str, Any] = {"id": case_id}
        for index in columns_of["case"]:
            if first[index] != PORTAL_MISSING:
                node = document
                *parents, leaf = _CASE_COLUMN_PATHS.get(header[index], (header[index],))
                for parent in parents:
                    node = node.setdefault(parent, {})
                node[leaf] = typed_cell(leaf, first[index])
        demographic = _entity(header, first, columns_of["demographic"])
        if demographic:
            document["demographic"] = demographic
        diagnoses: dict[tuple[str, ...], dict[str, Any]] = {}
        for cells in case_rows:
            key = tuple(cells[i] for i in columns_of["diagnoses"])
            diagnosis = diagnoses.get(key)
            if diagnosis is None:
                diagnosis = diagnoses[key] = _entity(header, cells, columns_of["diagnoses"])
            treatment = _entity(header, cells, columns_of["treatments"])
            if treatment:
                diagnosis.setdefault("treatments", []).append(treatment)
        non_empty = [d for d in diagnoses.values() if d]
        if non_empty:
            document["diagnoses"] = non_empty
        documents.append(document)
    return documents


def _entity(header: Sequence[str], cells: Sequence[str], indexes: Iterable[int]) -> dict[str, Any]:
    return {header[i]: typed_cell(header[i], cells[i]) for i in indexes if cells[i] != PORTAL_MISSING}


# --- API-style TSV -----------------------------------------------------------------------------------

# One-to-one child objects, needed to split the underscore style (`demographic_gender`).
_ONE_TO_ONE_OBJECTS: dict[str, dict] = {
    "project": {"program": {}},
    "demographic": {},
    "case": {"project": {}, "demographic": {}},
    "analysis": {},
    "summary": {},
}
_UNDERSCORE_INDEX = re.compile(r"_(\d+)(?=_|$)")


def _split_dotted(column: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in column.split(".")]


def _split_object_prefixes(name: str, objects: Mapping[str, dict]) -> list[str]:
    for prefix, children in objects.items():
        if name.startswith(prefix + "_") and len(name) > len(prefix) + 1:
            return [prefix, *_split_object_prefixes(name[len(prefix) + 1 :], children)]
    return [name]


def _split_underscore(column: str) -> list[str | int]:
    """`diagnoses_0_treatments_1_treatment_type` -> [diagnoses, 0, treatments, 1, treatment_type];
    `demographic_gender` -> [demographic, gender] (known one-to-one objects only)."""
    parts: list[str | int] = []
    position = 0
    for match in _UNDERSCORE_INDEX.finditer(column):
        name = column[position : match.start()].lstrip("_")
        parts += _split_object_prefixes(name, _ONE_TO_ONE_OBJECTS) if not parts else [name]
        parts.append(int(match.group(1)))
        position = match.end()
    tail = column[position:].lstrip("_")
    if tail:
        parts += _split_object_prefixes(tail, _ONE_TO_ONE_OBJECTS) if not parts else [tail]
    return parts


def unflatten_tsv_row(row: Mapping[str, str], style: str = "dotted") -> dict[str, Any]:
    """One API TSV row (column -> cell text) -> the nested document. `style`: `dotted` (current) or
    `underscore` (2016). Empty cells are absent keys; list indices become list positions (in index
    order; an index whose cells are all empty is absent)."""
    if style not in ("dotted", "underscore"):
        raise ValueError(f"style must be 'dotted' or 'underscore', not {style!r}")
    split = _split_dotted if style == "dotted" else _split_underscore
    tree: dict[Any, Any] = {}
    for column, text in row.items():
        if text is None or text == "":
            continue
        path = split(column)
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ExportFormatError(f"TSV column {column!r} nests under a value")
        leaf = path[-1]
        field = leaf if isinstance(leaf, str) else str(path[-2]) if len(path) > 1 else str(leaf)
        node[leaf] = typed_cell(field, text)
    return _lists_from_int_keys(tree)


def _lists_from_int_keys(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_lists_from_int_keys(node[key]) for key in sorted(node)]
    return {key: _lists_from_int_keys(value) for key, value in node.items()}


def api_tsv_case_documents(tsv_text: str, style: str = "auto") -> list[dict[str, Any]]:
    """`/cases?format=tsv` text -> case documents. `style="auto"` picks dotted when any header has a dot."""
    reader = csv.reader(io.StringIO(tsv_text.lstrip("\ufeff")), delimiter="\t")
    header = next(reader, None)
    if header is None:
        raise ExportFormatError("empty TSV")
    if style == "auto":
        style = "dotted" if any("." in column for column in header) else "underscore"
    documents = []
    for number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise ExportFormatError(f"TSV line {number} has {len(cells)} cells, header has {len(header)}")
        document = unflatten_tsv_row(dict(zip(header, cells, strict=True)), style)
        if "case_id" not in document and "id" in document:
            document["case_id"] = document["id"]
        documents.append(document)
    return documents


def flatten_document(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted flattening as the API's TSV does it (`diagnoses.0.treatments.1.treatment_type`); nulls
    are left out (an empty cell). Values stay typed."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_document(value, path + "."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    flat.update(flatten_document(item, f"{path}.{index}."))
                elif item is not None:
                    flat[f"{path}.{index}"] = item
        elif value is not None:
            flat[path] = value
    return flat


def document_to_tsv_cells(document: Mapping[str, Any]) -> dict[str, str]:
    """`flatten_document` with values written as the API's TSV writes them (booleans True/False)."""
    return {
        column: ("True" if value else "False") if isinstance(value, bool) else str(value)
        for column, value in flatten_document(document).items()
    }


# --- 2017-era cart metadata ------------------------------------------------------------------------


def cart_metadata_case_documents(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Cart metadata (a list of file records, each with `cases[]`) -> one case document per case.

    A case attached to several files appears once per file, each time with that file's samples only:
    the documents are merged (samples united by sample_id, first-seen order). If two copies differ
    outside `samples`, both are returned unchanged: the harmoniser then quarantines the case as
    conflicting duplicates rather than this reader choosing one.
    """
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise ExportFormatError("cart metadata must be a JSON list of file records")
    merged: dict[str, list[dict[str, Any]]] = {}
    order: list[str] = []
    for record_number, record in enumerate(records):
        cases = record.get("cases") if isinstance(record, Mapping) else None
        if not isinstance(cases, list):
            raise ExportFormatError(f"cart metadata record {record_number} has no cases list")
        for case in cases:
            case_id = case.get("case_id") if isinstance(case, Mapping) else None
            if not case_id:
                raise ExportFormatError(f"cart metadata record {record_number} holds a case without case_id")
            document = copy.deepcopy(dict(case))
            document.setdefault("id", case_id)
            copies = merged.get(case_id)
            if copies is None:
                merged[case_id] = [document]
                order.append(case_id)
                continue
            for existing in copies:
                if _without_samples(existing) == _without_samples(document):
                    _unite_samples(existing, document.get("samples") or [])
                    break
            else:
                copies.append(document)
    return [document for case_id in order for document in merged[case_id]]


def _without_samples(document: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in document.items() if k != "samples"}, sort_keys=True)


def _unite_samples(document: dict[str, Any], samples: list[Any]) -> None:
    existing = document.setdefault("samples", [])
    seen = {
        json.dumps(sample, sort_keys=True)
        if not isinstance(sample, Mapping) or "sample_id" not in sample
        else sample["sample_id"]
        for sample in existing
    }
    for sample in samples:
        key = (
            sample["sample_id"]
            if isinstance(sample, Mapping) and "sample_id" in sample
            else json.dumps(sample, sort_keys=True)
        )
        if key not in seen:
            existing.append(sample)
            seen.add(key)
