"""Filters of the GDC search semantics (sandbox.gdc_standin.query): field paths, value matching and the
compiled filter predicates, over complete documents.

Field paths are tuples of keys; lists met on the way are walked element by element, which gives the API's
any-of semantics on nested arrays (`diagnoses.treatments.treatment_type` matches a case if any treatment of
any diagnosis matches). Strings match case-insensitively with `*` wildcards, numbers compare as numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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

# Sentinel: a key that is absent (not the same as a null value), also a projection that keeps nothing.
MISSING = object()


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
        child = node.get(path[depth], MISSING)
        if child is not MISSING and child is not None:
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
