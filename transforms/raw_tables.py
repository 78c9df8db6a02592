"""GDC documents -> raw-layer tables.

A raw table keeps every document losslessly (the hit as the API returned it, as JSON text in
`document`) next to the key columns that later layers join on. These functions are pure: the raw
assets call them on what the GDC client returned, and the tests call them on the real GDC exports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from contracts.panels import MGMT_STP27_PROBES
from contracts.schemas import (
    RAW_CASES_SCHEMA,
    RAW_CNV_OCCURRENCES_SCHEMA,
    RAW_METHYLATION_FILES_SCHEMA,
    RAW_SSM_OCCURRENCES_SCHEMA,
)


def _is_object(node: Any) -> bool:
    # JSON objects arrive as dicts: test that first, the Mapping ABC check is ~10x slower.
    return type(node) is dict or isinstance(node, Mapping)


def _get(document: Mapping[str, Any], *path: str) -> Any:
    node: Any = document
    for key in path:
        if not _is_object(node):
            return None
        node = node.get(key)
    return node


def _key(value: Any) -> str | None:
    """Key columns are text. A malformed document may carry an object or number where GDC has a string:
    keep it as JSON text (the quarantine rules then reject it by name) instead of failing the whole table."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


# Compact and key-sorted: the same document always gives the same bytes (idempotent rewrites). One
# encoder for all documents: json.dumps with options builds a new encoder on every call.
_DOCUMENT_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)
# For the rare document holding text UTF-8 cannot encode (a lone surrogate such as "\ud800", valid JSON): every
# non-ASCII character escaped, which is the same JSON value and plain ASCII text, so the document is kept losslessly
# and the harmoniser quarantines the case by name (transforms.patient_documents).
_ASCII_DOCUMENT_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def _dump(document: Mapping[str, Any]) -> str:
    text = _DOCUMENT_ENCODER.encode(document)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _ASCII_DOCUMENT_ENCODER.encode(document)
    return text


class _Columns:
    """Column lists filled document by document, then one DataFrame. Building columns (and the list
    column through Arrow offsets) is several times faster than polars' list-of-dicts constructor,
    which matters at millions of occurrence documents."""

    def __init__(self, schema: dict[str, pl.DataType]):
        self.schema = schema
        self.values: dict[str, list[Any]] = {name: [] for name in schema if not isinstance(schema[name], pl.List)}
        self.list_values: dict[str, list[str]] = {name: [] for name in schema if isinstance(schema[name], pl.List)}
        self.list_offsets: dict[str, list[int]] = {name: [0] for name in self.list_values}

    def extend_list(self, name: str, items: list[str]) -> None:
        values = self.list_values[name]
        values.extend(items)
        self.list_offsets[name].append(len(values))

    def frame(self) -> pl.DataFrame:
        columns: dict[str, pl.Series] = {
            name: pl.Series(name, values, dtype=self.schema[name]) for name, values in self.values.items()
        }
        for name, values in self.list_values.items():
            array = pa.ListArray.from_arrays(
                pa.array(self.list_offsets[name], type=pa.int32()), pa.array(values, type=pa.large_string())
            )
            columns[name] = pl.Series(name, pl.from_arrow(array)).cast(self.schema[name])
        return pl.DataFrame([columns[name] for name in self.schema])


# The builders below run once per hit (millions of cnv occurrences per release): the common case — a value
# that is already text or absent — is tested inline, and only other values go through `_key`; column
# appends are bound methods. Same values as `_key(...)` / `_get(...)` on every path.


def raw_cases_table(documents: Iterable[Mapping[str, Any]], release: str) -> pl.DataFrame:
    table = _Columns(RAW_CASES_SCHEMA)
    v = table.values
    case_ids, submitter_ids, project_ids = v["case_id"].append, v["submitter_id"].append, v["project_id"].append
    updated, dumped = v["updated_datetime"].append, v["document"].append
    rows = 0
    for doc in documents:
        rows += 1
        value = doc.get("case_id") or doc.get("id")
        case_ids(value if value is None or value.__class__ is str else _key(value))
        value = doc.get("submitter_id")
        submitter_ids(value if value is None or value.__class__ is str else _key(value))
        project = doc.get("project")
        value = project.get("project_id") if project.__class__ is dict or _is_object(project) else None
        project_ids(value if value is None or value.__class__ is str else _key(value))
        value = doc.get("updated_datetime")
        updated(value if value is None or value.__class__ is str else _key(value))
        dumped(_dump(doc))
    v["release"].extend([release] * rows)
    return table.frame()


def _consequence_genes(consequences: Any, key_path: Sequence[str], panel: frozenset[str] | None) -> list[str]:
    symbols: set[str] = set()
    for consequence in consequences or ():
        symbol = consequence
        for key in key_path:  # _get(consequence, *key_path), inline
            if not (symbol.__class__ is dict or _is_object(symbol)):
                symbol = None
                break
            symbol = symbol.get(key)
        if symbol and (panel is None or symbol in panel):
            symbols.add(symbol)
    return sorted(symbols)


class _OccurrenceCase:
    """Appends the case key columns of an occurrence hit (`case.case_id`, `.submitter_id`, `.project.project_id`)."""

    def __init__(self, v: dict[str, list[Any]]) -> None:
        self.case_ids, self.submitter_ids, self.project_ids = (
            v["case_id"].append,
            v["submitter_id"].append,
            v["project_id"].append,
        )

    def add(self, doc: Mapping[str, Any]) -> None:
        case = doc.get("case")
        if not (case.__class__ is dict or _is_object(case)):
            case = _NO_OBJECT
        value = case.get("case_id")
        self.case_ids(value if value is None or value.__class__ is str else _key(value))
        value = case.get("submitter_id")
        self.submitter_ids(value if value is None or value.__class__ is str else _key(value))
        project = case.get("project")
        value = project.get("project_id") if project.__class__ is dict or _is_object(project) else None
        self.project_ids(value if value is None or value.__class__ is str else _key(value))


_NO_OBJECT: Mapping[str, Any] = {}


def raw_ssm_occurrences_table(
    documents: Iterable[Mapping[str, Any]], release: str, panel: Iterable[str] | None = None
) -> pl.DataFrame:
    """`gene_symbols`: the panel genes among the ssm's consequences (GDC returns every transcript, also of
    overlapping genes, so the filter that selected the occurrence is not enough — GDC_API_FACTS 3.1)."""
    panel_set = frozenset(panel) if panel is not None else None
    table = _Columns(RAW_SSM_OCCURRENCES_SCHEMA)
    v = table.values
    occurrence_ids, ssm_ids, dumped = v["ssm_occurrence_id"].append, v["ssm_id"].append, v["document"].append
    add_case = _OccurrenceCase(v).add
    genes, gene_offsets = table.list_values["gene_symbols"], table.list_offsets["gene_symbols"]
    rows = 0
    for doc in documents:
        rows += 1
        value = doc.get("ssm_occurrence_id") or doc.get("id")
        occurrence_ids(value if value is None or value.__class__ is str else _key(value))
        add_case(doc)
        ssm = doc.get("ssm")
        is_object = ssm.__class__ is dict or _is_object(ssm)
        value = ssm.get("ssm_id") if is_object else None
        ssm_ids(value if value is None or value.__class__ is str else _key(value))
        genes.extend(
            _consequence_genes(
                ssm.get("consequence") if is_object else None, ("transcript", "gene", "symbol"), panel_set
            )
        )
        gene_offsets.append(len(genes))
        dumped(_dump(doc))
    v["release"].extend([release] * rows)
    return table.frame()


def raw_cnv_occurrences_table(
    documents: Iterable[Mapping[str, Any]], release: str, panel: Iterable[str] | None = None
) -> pl.DataFrame:
    panel_set = frozenset(panel) if panel is not None else None
    table = _Columns(RAW_CNV_OCCURRENCES_SCHEMA)
    v = table.values
    occurrence_ids, cnv_ids, chromosomes = v["cnv_occurrence_id"].append, v["cnv_id"].append, v["chromosome"].append
    changes, categories, dumped = v["cnv_change"].append, v["cnv_change_5_category"].append, v["document"].append
    add_case = _OccurrenceCase(v).add
    genes, gene_offsets = table.list_values["gene_symbols"], table.list_offsets["gene_symbols"]
    rows = 0
    for doc in documents:
        rows += 1
        cnv = doc.get("cnv")
        if not (cnv.__class__ is dict or _is_object(cnv)):
            cnv = _NO_OBJECT
        value = doc.get("cnv_occurrence_id") or doc.get("id")
        occurrence_ids(value if value is None or value.__class__ is str else _key(value))
        add_case(doc)
        value = cnv.get("cnv_id")
        cnv_ids(value if value is None or value.__class__ is str else _key(value))
        value = cnv.get("chromosome")
        chromosomes(value if value is None or value.__class__ is str else _key(value))
        genes.extend(_consequence_genes(cnv.get("consequence"), ("gene", "symbol"), panel_set))
        gene_offsets.append(len(genes))
        value = cnv.get("cnv_change")
        changes(value if value is None or value.__class__ is str else _key(value))
        value = cnv.get("cnv_change_5_category")
        categories(value if value is None or value.__class__ is str else _key(value))
        dumped(_dump(doc))
    v["release"].extend([release] * rows)
    return table.frame()


def _first(items: Any) -> Mapping[str, Any]:
    return items[0] if isinstance(items, list) and items and _is_object(items[0]) else {}


def raw_file_documents_table(
    documents: Iterable[Mapping[str, Any]], release: str, schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """One row per file document (`schema`: a raw files schema). A file belongs to one case and one sample (for
    RNA-seq, one aliquot); the first of each is taken as the key, the full lists stay in `document`."""
    table = _Columns(dict(schema))
    v = table.values
    for doc in documents:
        case = _first(doc.get("cases"))
        sample = _first(case.get("samples"))
        file_size = doc.get("file_size")
        v["release"].append(release)
        v["file_id"].append(_key(doc.get("file_id") or doc.get("id")))
        v["file_name"].append(_key(doc.get("file_name")))
        v["md5sum"].append(_key(doc.get("md5sum")))
        v["file_size"].append(int(file_size) if file_size is not None else None)
        v["case_id"].append(_key(case.get("case_id")))
        v["submitter_id"].append(_key(case.get("submitter_id")))
        v["project_id"].append(_key(_get(case, "project", "project_id")))
        v["sample_submitter_id"].append(_key(sample.get("submitter_id")))
        v["sample_type"].append(_key(sample.get("sample_type")))
        if "platform" in v:
            v["platform"].append(_key(doc.get("platform")))
        if "aliquot_submitter_id" in v:
            aliquot = _first(_first(_first(sample.get("portions")).get("analytes")).get("aliquots"))
            v["aliquot_submitter_id"].append(_key(aliquot.get("submitter_id")))
        v["document"].append(_dump(doc))
    return table.frame()


def raw_methylation_files_table(documents: Iterable[Mapping[str, Any]], release: str) -> pl.DataFrame:
    return raw_file_documents_table(documents, release, RAW_METHYLATION_FILES_SCHEMA)


class BetaFileFormatError(ValueError):
    """A methylation beta file line that is not `<probe id>\\t<beta or NA>`."""


def extract_probe_betas(
    lines: Iterable[bytes], probes: Iterable[str] = MGMT_STP27_PROBES, *, file_id: str = "?"
) -> dict[str, float | None]:
    """Pick the wanted probes' betas out of a SeSAMe level-3 beta file while it streams by.

    The file has no header: `probe_id<TAB>beta`, beta in [0, 1] or `NA` (masked probe -> None).
    The whole file is read (the caller verifies md5 at the end), but only the wanted lines are parsed.
    """
    wanted = {probe.encode(): probe for probe in probes}
    found: dict[str, float | None] = {}
    for line_number, line in enumerate(lines, start=1):
        probe_bytes, _, rest = line.partition(b"\t")
        probe = wanted.get(probe_bytes)
        if probe is None:
            continue
        text = rest.strip().decode("ascii", errors="replace")
        if text in ("NA", ""):
            found[probe] = None
            continue
        try:
            beta = float(text)
        except ValueError as error:
            raise BetaFileFormatError(
                f"methylation file {file_id} line {line_number}: probe {probe} has beta {text!r}, not a number or NA"
            ) from error
        if not 0.0 <= beta <= 1.0:
            raise BetaFileFormatError(
                f"methylation file {file_id} line {line_number}: probe {probe} has beta {beta}, outside [0, 1]"
            )
        found[probe] = beta
    return found


def mgmt_probe_rows(
    file_row: Mapping[str, Any],
    betas: Mapping[str, float | None],
    release: str,
    probes: Iterable[str] = MGMT_STP27_PROBES,
) -> list[dict[str, Any]]:
    """Long-form rows of `raw/mgmt_probe_betas` for one file: one row per wanted probe, also when the
    probe was masked (`NA`) or absent, so every file fetched leaves a trace and is never fetched again."""
    return [
        {
            "release": release,
            "file_id": file_row["file_id"],
            "md5sum": file_row["md5sum"],
            "case_id": file_row["case_id"],
            "submitter_id": file_row["submitter_id"],
            "sample_submitter_id": file_row["sample_submitter_id"],
            "sample_type": file_row["sample_type"],
            "platform": file_row["platform"],
            "probe_id": probe,
            "beta": betas.get(probe),
            "probe_status": "absent" if probe not in betas else ("NA" if betas[probe] is None else "measured"),
        }
        for probe in sorted(probes)
    ]
