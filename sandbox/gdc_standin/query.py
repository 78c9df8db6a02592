"""Search semantics of the GDC API over complete documents: filters, projection, sort, facets, TSV.

Pure functions over plain dicts; the HTTP layer lives in `server.py`. Field paths are tuples of keys;
lists met on the way are walked element by element, which gives the API's any-of semantics on nested
arrays (`diagnoses.treatments.treatment_type` matches a case if any treatment of any diagnosis matches).
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

JsonDoc = dict[str, Any]
Predicate = Callable[[JsonDoc], bool]

# Endpoint name -> prefixes accepted in front of its own field names (`cases.demographic.gender` on /cases).
ENDPOINT_PREFIXES: dict[str, tuple[str, ...]] = {
    "cases": ("cases.",),
    "files": ("files.",),
    "ssm_occurrences": ("ssm_occurrences.", "ssm_occurrence."),
    "cnv_occurrences": ("cnv_occurrences.", "cnv_occurrence."),
    "projects": ("projects.", "project."),
}

LEAF_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "exclude", "excludeifany", "is", "not"}
BOOL_OPS = {"and", "or"}
# Ops the API allows in a filter combined with `facets` (GDC docs, Search_and_Retrieval "Facets").
FACET_COMPATIBLE_OPS = {"=", "!=", "in", "exclude", "is", "not"}

_MISSING = object()


class QueryError(ValueError):
    """A malformed request parameter; answered with HTTP 400 and this message."""


# ----------------------------------------------------------------------------------------------------------
# Field paths


def field_path(endpoint: str, dotted: str) -> tuple[str, ...]:
    """`cases.demographic.gender` on /cases -> ("demographic", "gender"); the own-endpoint prefix is optional."""
    name = dotted.strip()
    for prefix in ENDPOINT_PREFIXES.get(endpoint, ()):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if not name or any(part == "" for part in name.split(".")):
        raise QueryError(f"invalid field name {dotted!r}")
    return tuple(name.split("."))


def leaf_values(doc: Any, path: Sequence[str]) -> list[Any]:
    """Every non-null value at `path`, walking lists on the way (any-of semantics)."""
    out: list[Any] = []
    _collect(doc, path, 0, out)
    return out


def _collect(node: Any, path: Sequence[str], depth: int, out: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, path, depth, out)
        return
    if depth == len(path):
        if node is not None:
            out.append(node)
        return
    if isinstance(node, dict):
        child = node.get(path[depth], _MISSING)
        if child is not _MISSING and child is not None:
            _collect(child, path, depth + 1, out)


def _parent_present(doc: JsonDoc, path: Sequence[str]) -> bool:
    """Whether the object that would hold the last key of `path` exists (for the `is` missing quirk)."""
    if len(path) == 1:
        return True
    parents = leaf_values(doc, path[:-1])
    return any(isinstance(p, dict) for p in parents)


# ----------------------------------------------------------------------------------------------------------
# Value matching: case-insensitive strings, `*` wildcards, numbers compared as numbers


def _norm_doc_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value.lower()
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class _ValueSet:
    """The filter's values, normalised once so that matching a document value is a set lookup."""

    exact: frozenset[Any]
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, values: Iterable[Any]) -> _ValueSet:
        exact: set[Any] = set()
        patterns: list[re.Pattern[str]] = []
        for value in values:
            if isinstance(value, bool):
                exact.add("true" if value else "false")
            elif isinstance(value, (int, float)):
                exact.add(float(value))
                exact.add(_number_text(value).lower())
            elif isinstance(value, str):
                if "*" in value:
                    regex = ".*".join(re.escape(part) for part in value.split("*"))
                    patterns.append(re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL))
                else:
                    exact.add(value.lower())
                    number = _as_number(value)
                    if number is not None:
                        exact.add(number)
            elif value is None:
                continue
            else:
                raise QueryError(f"unsupported filter value {value!r}")
        return cls(frozenset(exact), tuple(patterns))

    def matches(self, doc_value: Any) -> bool:
        norm = _norm_doc_value(doc_value)
        if norm in self.exact:
            return True
        if self.patterns:
            text = doc_value if isinstance(doc_value, str) else _display_text(doc_value)
            return any(p.match(text) for p in self.patterns)
        return False


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _display_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _range_test(op: str, bound: Any) -> Callable[[Any], bool]:
    bound_number = _as_number(bound)

    def compare(doc_value: Any) -> bool:
        left: Any
        right: Any
        doc_number = _as_number(doc_value)
        if bound_number is not None and doc_number is not None:
            left, right = doc_number, bound_number
        elif isinstance(doc_value, str) and isinstance(bound, str):
            left, right = doc_value, bound  # ISO dates and datetimes order as text
        else:
            return False
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right

    return compare


# ----------------------------------------------------------------------------------------------------------
# Filters


def parse_filters(raw: Any) -> JsonDoc | None:
    """`filters` as sent: None/"" (no filter), a dict, or a JSON string (GET query, gdc-client POST bodies)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise QueryError(f"filters is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if isinstance(raw, dict) and not raw:
        return None
    if not isinstance(raw, dict):
        raise QueryError(f"filters must be a JSON object, got {type(raw).__name__}")
    return raw


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def compile_filter(node: Any, endpoint: str, *, missing_parent_quirk: bool = True) -> Predicate:
    """Compile a GDC filter tree into a predicate; raises QueryError naming the malformed part."""
    if not isinstance(node, dict):
        raise QueryError(f"filter node must be an object, got {node!r}")
    op = node.get("op")
    if not isinstance(op, str):
        raise QueryError(f"filter node without 'op': {canonical_json(node)}")
    op = op.strip().lower()  # the docs write ops lower case; "AND"/"IN" are tolerated
    if "content" not in node:
        raise QueryError(f"filter op {op!r} without 'content'")
    content = node["content"]
    if op in BOOL_OPS:
        if not isinstance(content, list):
            raise QueryError(f"content of {op!r} must be a list of filters, got {canonical_json(content)}")
        children = [compile_filter(c, endpoint, missing_parent_quirk=missing_parent_quirk) for c in content]
        if op == "and":
            return lambda doc: all(child(doc) for child in children)
        return lambda doc: any(child(doc) for child in children)
    if op not in LEAF_OPS:
        raise QueryError(f"unknown filter op {op!r}; expected one of {sorted(LEAF_OPS | BOOL_OPS)}")
    if not isinstance(content, dict):
        raise QueryError(f"content of {op!r} must be an object with 'field' and 'value'")
    raw_field = content.get("field")
    if not isinstance(raw_field, str):
        raise QueryError(f"filter op {op!r} without a string 'field': {canonical_json(content)}")
    path = field_path(endpoint, raw_field)

    if op in ("is", "not"):
        # `is` = missing, `not` = not missing; a value ("MISSING") is optional and ignored.
        if op == "not":
            return lambda doc: bool(leaf_values(doc, path))

        def is_missing(doc: JsonDoc) -> bool:
            if leaf_values(doc, path):
                return False
            # Documented ES quirk: a field is not "missing" when its parent object is missing too.
            return _parent_present(doc, path) if missing_parent_quirk else True

        return is_missing

    if "value" not in content:
        raise QueryError(f"filter op {op!r} on field {raw_field!r} has no 'value'")
    value = content["value"]
    values = value if isinstance(value, list) else [value]

    if op in ("<", "<=", ">", ">="):
        if len(values) != 1:
            raise QueryError(f"filter op {op!r} on field {raw_field!r} needs one value, got {value!r}")
        if isinstance(values[0], (dict, list)) or values[0] is None:
            raise QueryError(f"filter op {op!r} on field {raw_field!r} has an unusable value {values[0]!r}")
        test = _range_test(op, values[0])
        return lambda doc: any(test(v) for v in leaf_values(doc, path))

    value_set = _ValueSet.of(values)
    if op in ("=", "in"):
        return lambda doc: any(value_set.matches(v) for v in leaf_values(doc, path))
    if op == "!=":
        return lambda doc: not any(value_set.matches(v) for v in leaf_values(doc, path))
    if op == "exclude":
        # Drops a parent only when every one of its values matches (GDC docs on nested arrays).
        def exclude(doc: JsonDoc) -> bool:
            found = leaf_values(doc, path)
            return not found or not all(value_set.matches(v) for v in found)

        return exclude
    # excludeifany: drops the parent as soon as one value matches
    return lambda doc: not any(value_set.matches(v) for v in leaf_values(doc, path))


def filter_fields(node: Any, endpoint: str) -> set[tuple[str, ...]]:
    """Paths of every leaf in a (valid) filter tree."""
    out: set[tuple[str, ...]] = set()
    if isinstance(node, dict):
        content = node.get("content")
        if isinstance(content, list):
            for child in content:
                out |= filter_fields(child, endpoint)
        elif isinstance(content, dict) and isinstance(content.get("field"), str):
            out.add(field_path(endpoint, content["field"]))
    return out


def filters_without_field(filters: JsonDoc | None, endpoint: str, path: tuple[str, ...]) -> JsonDoc | None:
    """The filter a facet on `path` is computed under: its own field's leaves removed."""
    if filters is None:
        return None
    if filters.get("op", "").lower() != "and":
        return None if filter_fields(filters, endpoint) == {path} else filters
    kept = [c for c in filters["content"] if filter_fields(c, endpoint) != {path}]
    return {"op": "and", "content": kept} if kept else None


def check_facet_filters(filters: JsonDoc | None) -> None:
    """Facets + filters: top-level `and` of leaves among = != in exclude is not, or one such leaf (API v1.5.0+)."""
    if filters is None:
        return
    op = str(filters.get("op", "")).lower()
    leaves = filters["content"] if op == "and" else [filters]
    for leaf in leaves:
        leaf_op = str(leaf.get("op")).lower() if isinstance(leaf, dict) else None
        if leaf_op not in FACET_COMPATIBLE_OPS:
            raise QueryError(
                f"filters combined with facets must be an 'and' of {sorted(FACET_COMPATIBLE_OPS)} leaves; "
                f"op {leaf_op!r} is not supported with facets"
            )


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
            value = obj.get(key, _MISSING)
            if value is not _MISSING:
                projected = project_child(value)
                if projected is not _MISSING:
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
            return projected if projected else _MISSING
        if isinstance(value, list):
            items = [p for p in (project_object(item) for item in value if isinstance(item, dict)) if p]
            return items if items else _MISSING
        return _MISSING  # a scalar addressed as if it had children: unknown field, silently absent

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
