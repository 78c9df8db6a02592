"""Search semantics of the GDC API over complete documents: filters, projection, sort, facets, TSV.

Pure functions over plain dicts; the HTTP layer lives in `endpoints.py` and `http_server.py`. The filters
(field paths, value matching, compiled predicates) are in `filters.py`; here: sort, projection, pagination,
facets, TSV. Field paths are tuples of keys;
lists met on the way are walked element by element, which gives the API's any-of semantics on nested
arrays (`diagnoses.treatments.treatment_type` matches a case if any treatment of any diagnosis matches).
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandbox.gdc_standin.filters import (
    MISSING,
    JsonDoc,
    QueryError,
    canonical_json,
    check_facet_filters,
    compile_filter,
    field_path,
    filter_fields,
    filters_without_field,
    leaf_values,
    parse_filters,
)

# The filter API, importable from here where it was defined before filters.py (tests and callers use it).
__all__ = [
    "JsonDoc",
    "QueryError",
    "canonical_json",
    "check_facet_filters",
    "compile_filter",
    "field_path",
    "filter_fields",
    "filters_without_field",
    "leaf_values",
    "parse_filters",
    "FacetCounts",
    "Projection",
    "SortColumns",
    "SortKey",
    "build_projection",
    "compile_projection",
    "facet_buckets",
    "flatten",
    "pagination",
    "parse_int_param",
    "parse_sort",
    "project",
    "split_param_list",
    "to_tsv",
]


# ----------------------------------------------------------------------------------------------------------
# Sort


@dataclass(frozen=True)
class SortKey:
    path: tuple[str, ...]
    descending: bool


def parse_sort(raw: Any, endpoint: str) -> tuple[SortKey, ...]:
    """`field:asc`, `field:desc`, bare `field`, comma-separated or a list of those."""
    if raw is None:
        return ()
    items: list[str] = []
    if isinstance(raw, str):
        items = [s for s in raw.split(",") if s.strip()]
    elif isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, str):
                raise QueryError(f"sort entries must be strings, got {entry!r}")
            items.extend(s for s in entry.split(",") if s.strip())
    else:
        raise QueryError(f"sort must be a string like 'field:asc', got {raw!r}")
    keys: list[SortKey] = []
    for item in items:
        name, _, direction = item.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise QueryError(f"sort direction must be asc or desc, got {item!r}")
        keys.append(SortKey(field_path(endpoint, name), direction == "desc"))
    return tuple(keys)


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, (int, float)):
        return (0, float(value))
    return (1, str(value))


_NUMBER, _TEXT, _ABSENT = 0, 1, 2


class SortColumns:
    """The sort keys of the documents a streaming pass keeps, so that the documents themselves need not be.

    `add(doc)` once per kept document, in bundle order; `order()` is then the permutation of those
    documents the API serves: a stable multi-key sort, arrays by their min (asc) / max (desc), documents
    without a value last. Per key a document holds a kind (number < text; absent) and a float (the number,
    or the text's rank among the texts), so 1.35M keys cost ~10 bytes each instead of a tuple per document.
    """

    def __init__(self, keys: Sequence[SortKey]) -> None:
        self.keys = tuple(keys)
        self._kinds = [array("b") for _ in self.keys]
        self._numbers = [array("d") for _ in self.keys]
        self._texts: list[list[str]] = [[] for _ in self.keys]

    def __len__(self) -> int:
        return len(self._kinds[0]) if self.keys else 0

    def add(self, doc: JsonDoc) -> None:
        for key, kinds, numbers, texts in zip(self.keys, self._kinds, self._numbers, self._texts, strict=True):
            values = leaf_values(doc, key.path)
            if not values:
                kinds.append(_ABSENT)
                numbers.append(0.0)
                continue
            if len(values) == 1:
                kind, value = _sort_value(values[0])
            else:
                keyed = [_sort_value(v) for v in values]
                kind, value = max(keyed) if key.descending else min(keyed)
            kinds.append(kind)
            if kind == _NUMBER:
                numbers.append(value)
            else:
                numbers.append(0.0)
                texts.append(value)

    def order(self) -> np.ndarray:
        """Positions (in `add` order) in served order; least significant key first, each sort stable."""
        order = np.arange(len(self), dtype=np.intp)
        for key, kinds, numbers, texts in reversed(
            list(zip(self.keys, self._kinds, self._numbers, self._texts, strict=True))
        ):
            kind = np.frombuffer(kinds, dtype=np.int8)
            value = np.frombuffer(numbers, dtype=np.float64).copy()
            if texts:
                value[kind == _TEXT] = _text_ranks(texts)
            absent = kind == _ABSENT
            rank_kind = kind.astype(np.int16)
            if key.descending:  # texts before numbers, larger first; equal keys keep their order (stable)
                value, rank_kind = -value, -rank_kind
            for column in (value, rank_kind, absent):  # absent last, whatever the direction
                order = order[np.argsort(column[order], kind="stable")]
        return order


def _text_ranks(texts: list[str]) -> np.ndarray:
    """Dense ranks of the texts under Python's str order (code points), equal texts equal ranks."""
    values = np.array(texts, dtype=object)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    ranks = np.empty(len(texts), dtype=np.float64)
    ranks[order] = np.concatenate(([0], np.cumsum(ordered[1:] != ordered[:-1])))
    return ranks


# ----------------------------------------------------------------------------------------------------------
# Projection (`fields`, `expand`, default field set)


@dataclass
class Projection:
    """A tree of what to keep: `whole` = the entire subtree, `scalars` = own scalar properties."""

    whole: bool = False
    scalars: bool = False
    children: dict[str, Projection] = field(default_factory=dict)

    def child(self, key: str) -> Projection:
        node = self.children.get(key)
        if node is None:
            node = self.children[key] = Projection()
        return node


def _is_scalar(value: Any) -> bool:
    if isinstance(value, (dict,)):
        return False
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list)) for v in value)
    return True


def split_param_list(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, list):
        parts: list[str] = []
        for entry in raw:
            parts.extend(split_param_list(entry))
        return parts
    if not isinstance(raw, str):
        raise QueryError(f"expected a comma-separated string, got {raw!r}")
    return [p.strip() for p in raw.split(",") if p.strip()]


def build_projection(endpoint: str, fields: list[str], expand: list[str]) -> Projection:
    root = Projection()
    if not fields:
        root.scalars = True  # the default field set: the entity's own scalar properties (+ id)
    for name in fields:
        node = root
        for part in field_path(endpoint, name):
            node = node.child(part)
        node.whole = True
    for name in expand:
        node = root
        for part in field_path(endpoint, name):
            node = node.child(part)
        node.scalars = True
    return root


def project(doc: JsonDoc, projection: Projection, id_value: Any) -> JsonDoc:
    """The hit as the API returns it: nested objects only, unknown fields absent, `id` always present."""
    out = compile_projection(projection)(doc)
    out["id"] = id_value
    return out


ObjectProjector = Callable[[JsonDoc], JsonDoc]


def compile_projection(node: Projection) -> ObjectProjector:
    """Turn the projection tree into nested closures once per request (hot path: every hit of a page)."""
    if node.whole:
        return lambda obj: dict(obj)
    scalars = node.scalars
    whole_keys = tuple(key for key, child in node.children.items() if child.whole)
    nested = tuple((key, _compile_value(child)) for key, child in node.children.items() if not child.whole)

    def project_object(obj: JsonDoc) -> JsonDoc:
        out = {key: value for key, value in obj.items() if _is_scalar(value)} if scalars else {}
        for key in whole_keys:
            if key in obj:
                out[key] = obj[key]
        for key, project_child in nested:
            value = obj.get(key, MISSING)
            if value is not MISSING:
                projected = project_child(value)
                if projected is not MISSING:
                    out[key] = projected
        return out

    return project_object


def _compile_value(node: Projection) -> Callable[[Any], Any]:
    project_object = compile_projection(node)

    def project_value(value: Any) -> Any:
        if value is None:
            return None  # explicit nulls are served as stored
        if isinstance(value, dict):
            projected = project_object(value)
            return projected if projected else MISSING
        if isinstance(value, list):
            items = [p for p in (project_object(item) for item in value if isinstance(item, dict)) if p]
            return items if items else MISSING
        return MISSING  # a scalar addressed as if it had children: unknown field, silently absent

    return project_value


# ----------------------------------------------------------------------------------------------------------
# Pagination


def pagination(total: int, size: int, offset: int, count: int) -> JsonDoc:
    """The API's arithmetic: page = from//size + 1, pages = ceil(total/size); size=0 -> pages == total."""
    if total == 0:
        page, pages = 0, 0
    elif size == 0:
        page, pages = 1, total
    else:
        page, pages = offset // size + 1, math.ceil(total / size)
    return {"count": count, "total": total, "size": size, "from": offset, "sort": "", "page": page, "pages": pages}


def parse_int_param(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise QueryError(f"{name} must be an integer, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        value = int(raw)
    else:
        raise QueryError(f"{name} must be an integer, got {raw!r}")
    if value < 0:
        raise QueryError(f"{name} must not be negative, got {value}")
    return value


# ----------------------------------------------------------------------------------------------------------
# Facets


class FacetCounts:
    """Terms buckets for one field, counted one document at a time (a streaming pass keeps no documents)."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self._counts: Counter[Any] = Counter()
        self._missing = 0

    def add(self, doc: JsonDoc) -> None:
        values = leaf_values(doc, self.path)
        if not values:
            self._missing += 1
            return
        seen = set()
        for value in values:
            key = value if not isinstance(value, (dict, list)) else canonical_json(value)
            if key not in seen:
                seen.add(key)
                self._counts[key] += 1

    def buckets(self) -> JsonDoc:
        """By doc_count (desc, then key), plus `_missing` for documents without a value."""
        buckets = [{"key": key, "doc_count": n} for key, n in self._counts.items()]
        buckets.sort(key=lambda b: (-b["doc_count"], str(b["key"])))
        if self._missing:
            buckets.append({"key": "_missing", "doc_count": self._missing})
        return {"buckets": buckets}


def facet_buckets(docs: Iterable[JsonDoc], path: tuple[str, ...]) -> JsonDoc:
    """Terms buckets by doc_count (desc, then key), plus `_missing` for documents without a value."""
    counts = FacetCounts(path)
    for doc in docs:
        counts.add(doc)
    return counts.buckets()


# ----------------------------------------------------------------------------------------------------------
# TSV


def flatten(value: Any, prefix: str, sep: str, out: dict[str, Any]) -> None:
    """`diagnoses.0.age_at_diagnosis`: one-to-one objects without index, lists with their index."""
    if isinstance(value, dict):
        for key, child in value.items():
            flatten(child, f"{prefix}{sep}{key}" if prefix else key, sep, out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            flatten(child, f"{prefix}{sep}{index}" if prefix else str(index), sep, out)
    else:
        out[prefix] = value


def _tsv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    text = str(value)
    # A cell may not break the row structure.
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def to_tsv(hits: list[JsonDoc], style: str = "dots") -> str:
    sep = "_" if style == "underscores" else "."
    rows: list[dict[str, Any]] = []
    columns: set[str] = {"id"}
    for hit in hits:
        flat: dict[str, Any] = {}
        flatten(hit, "", sep, flat)
        rows.append(flat)
        columns.update(flat)
    header = sorted(columns)
    lines = ["\t".join(header)]
    for flat in rows:
        lines.append("\t".join(_tsv_cell(flat.get(col)) for col in header))
    return "\n".join(lines) + "\n"
