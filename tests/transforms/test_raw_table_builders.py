"""The raw-table builders (run once per GDC hit, millions of times per release, so written for speed) give
exactly the rows of the plain definition of each column — `_key(...)` of the value at its path (`_get`),
the panel genes among the consequences, the key-sorted JSON document — on real-looking hits and on hits
with odd values at every path they read (numbers or objects for ids, falsy ids, non-object nodes, a
Mapping that is not a dict, non-list consequences)."""

from __future__ import annotations

import copy
import json
import random
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.panels import CNV_PANEL_GENES, SSM_PANEL_GENES
from contracts.schemas import RAW_CASES_SCHEMA, RAW_CNV_OCCURRENCES_SCHEMA, RAW_SSM_OCCURRENCES_SCHEMA
from sandbox.synthetic import CohortSpec, write_multi_release
from transforms.raw_tables import (
    _dump,
    _get,
    _key,
    raw_cases_table,
    raw_cnv_occurrences_table,
    raw_ssm_occurrences_table,
)

RELEASE = "45.0"


# --- the plain definitions --------------------------------------------------------------------------------


def _genes(consequences: Any, path: tuple[str, ...], panel: frozenset[str] | None) -> list[str]:
    symbols = {symbol for c in consequences or () if (symbol := _get(c, *path)) and (panel is None or symbol in panel)}
    return sorted(symbols)


def _case(doc: Mapping[str, Any]) -> dict[str, Any]:
    case = doc.get("case")
    case = case if isinstance(case, Mapping) else {}
    return {
        "case_id": _key(case.get("case_id")),
        "submitter_id": _key(case.get("submitter_id")),
        "project_id": _key(_get(case, "project", "project_id")),
    }


def reference_cases(documents: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    rows = [
        {
            "release": RELEASE,
            "case_id": _key(d.get("case_id") or d.get("id")),
            "submitter_id": _key(d.get("submitter_id")),
            "project_id": _key(_get(d, "project", "project_id")),
            "updated_datetime": _key(d.get("updated_datetime")),
            "document": _dump(d),
        }
        for d in documents
    ]
    return pl.DataFrame(rows, schema=RAW_CASES_SCHEMA)


def reference_ssm(documents: Iterable[Mapping[str, Any]], panel: frozenset[str] | None) -> pl.DataFrame:
    rows = [
        {
            "release": RELEASE,
            "ssm_occurrence_id": _key(d.get("ssm_occurrence_id") or d.get("id")),
            **_case(d),
            "ssm_id": _key(_get(d, "ssm", "ssm_id")),
            "gene_symbols": _genes(_get(d, "ssm", "consequence"), ("transcript", "gene", "symbol"), panel),
            "document": _dump(d),
        }
        for d in documents
    ]
    return pl.DataFrame(rows, schema=RAW_SSM_OCCURRENCES_SCHEMA)


def reference_cnv(documents: Iterable[Mapping[str, Any]], panel: frozenset[str] | None) -> pl.DataFrame:
    rows = []
    for d in documents:
        cnv = d.get("cnv")
        cnv = cnv if isinstance(cnv, Mapping) else {}
        rows.append(
            {
                "release": RELEASE,
                "cnv_occurrence_id": _key(d.get("cnv_occurrence_id") or d.get("id")),
                **_case(d),
                "cnv_id": _key(cnv.get("cnv_id")),
                "chromosome": _key(cnv.get("chromosome")),
                "gene_symbols": _genes(cnv.get("consequence"), ("gene", "symbol"), panel),
                "cnv_change": _key(cnv.get("cnv_change")),
                "cnv_change_5_category": _key(cnv.get("cnv_change_5_category")),
                "document": _dump(d),
            }
        )
    return pl.DataFrame(rows, schema=RAW_CNV_OCCURRENCES_SCHEMA)


# --- hits ---------------------------------------------------------------------------------------------------


ODD: tuple[Any, ...] = (None, "", 0, 7, 2.5, True, False, [], ["x", "y"], {}, {"b": 1, "a": [2]}, "text", "  ")
# Gene symbols of odd consequences: texts (in and out of the panels) and falsy values (skipped).
SYMBOLS: tuple[Any, ...] = (None, "", 0, False, "NOTAGENE", "IDH1", "EGFR", "CDKN2A")


def _odd_node(rng: random.Random, node: Any, key: str) -> Any:
    choice = rng.random()
    if choice < 0.4:
        # Consequences must be iterable or falsy (a number there fails every builder alike).
        return rng.choice(
            [o for o in ODD if o in (0, False) or not isinstance(o, (int, float))] if key == "consequence" else ODD
        )
    if choice < 0.55 and isinstance(node, dict):
        return OrderedDict(node)  # an object that is not exactly a dict (the documents stay JSON-encodable)
    return node


def _fuzz(document: dict, rng: random.Random, paths: list[tuple[str, ...]]) -> dict:
    document = copy.deepcopy(document)
    for path in rng.sample(paths, k=rng.randint(1, 3)):
        node: Any = document
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if rng.random() < 0.15:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = _odd_node(rng, node.get(path[-1]), path[-1])
    return document


CASE_PATHS = [("case_id",), ("id",), ("submitter_id",), ("project",), ("project", "project_id"), ("updated_datetime",)]
OCCURRENCE_CASE_PATHS = [
    ("case",),
    ("case", "case_id"),
    ("case", "submitter_id"),
    ("case", "project"),
    ("case", "project", "project_id"),
]
SSM_PATHS = [
    ("ssm_occurrence_id",),
    ("id",),
    *OCCURRENCE_CASE_PATHS,
    ("ssm",),
    ("ssm", "ssm_id"),
    ("ssm", "consequence"),
]
CNV_PATHS = [
    ("cnv_occurrence_id",),
    ("id",),
    *OCCURRENCE_CASE_PATHS,
    ("cnv",),
    ("cnv", "cnv_id"),
    ("cnv", "chromosome"),
    ("cnv", "consequence"),
    ("cnv", "cnv_change"),
    ("cnv", "cnv_change_5_category"),
]


def _load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def hits(tmp_path_factory) -> dict[str, list]:
    root = tmp_path_factory.mktemp("raw_builders")
    write_multi_release(root, CohortSpec(n_cases=40, seed=13, release_label=RELEASE), releases=(RELEASE,))
    release_dir = root / "releases" / RELEASE
    rng = random.Random(20261201)
    out: dict[str, list] = {}
    for name, paths in (("cases", CASE_PATHS), ("ssm_occurrences", SSM_PATHS), ("cnv_occurrences", CNV_PATHS)):
        clean = _load(release_dir / f"{name}.jsonl")
        fuzzed = [_fuzz(rng.choice(clean), rng, paths) for _ in range(600)]
        # Odd consequence entries (a non-object, an object without gene, a gene that is not an object).
        if name != "cases":
            for document in fuzzed[:60]:
                holder = document.get("ssm" if name == "ssm_occurrences" else "cnv")
                if isinstance(holder, dict) and isinstance(holder.get("consequence"), list):
                    holder["consequence"] = [
                        *holder["consequence"],
                        rng.choice(ODD),
                        {"gene": rng.choice(ODD)},
                        {"transcript": {"gene": {"symbol": rng.choice(SYMBOLS)}}},
                        {"gene": {"symbol": rng.choice(SYMBOLS)}},
                    ]
        mixed = clean + fuzzed
        rng.shuffle(mixed)
        out[name] = mixed
    return out


def _pages(documents: list, size: int = 97) -> list[list]:
    return [documents[i : i + size] for i in range(0, len(documents), size)]


def _comparable(build, reference, documents: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(built page by page and concatenated, reference)."""
    return pl.concat([build(page) for page in _pages(documents)]), reference(documents)


def test_cases_builder_equals_the_plain_definition(hits) -> None:
    built, expected = _comparable(lambda d: raw_cases_table(d, RELEASE), reference_cases, hits["cases"])
    assert_frame_equal(built, expected)


@pytest.mark.parametrize("panel", [SSM_PANEL_GENES, None])
def test_ssm_builder_equals_the_plain_definition(hits, panel) -> None:
    panel_set = frozenset(panel) if panel is not None else None
    built, expected = _comparable(
        lambda d: raw_ssm_occurrences_table(d, RELEASE, panel),
        lambda d: reference_ssm(d, panel_set),
        hits["ssm_occurrences"],
    )
    assert_frame_equal(built, expected)


@pytest.mark.parametrize("panel", [CNV_PANEL_GENES, None])
def test_cnv_builder_equals_the_plain_definition(hits, panel) -> None:
    panel_set = frozenset(panel) if panel is not None else None
    built, expected = _comparable(
        lambda d: raw_cnv_occurrences_table(d, RELEASE, panel),
        lambda d: reference_cnv(d, panel_set),
        hits["cnv_occurrences"],
    )
    assert_frame_equal(built, expected)


def test_an_empty_page_gives_an_empty_table_of_the_schema() -> None:
    assert raw_cases_table([], RELEASE).schema == pl.Schema(RAW_CASES_SCHEMA)
    assert raw_ssm_occurrences_table([], RELEASE).schema == pl.Schema(RAW_SSM_OCCURRENCES_SCHEMA)
    assert raw_cnv_occurrences_table([], RELEASE).schema == pl.Schema(RAW_CNV_OCCURRENCES_SCHEMA)
