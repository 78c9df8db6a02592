"""Great Expectations validation results as plain rows and markdown (quality.runner builds a report from them).

One plain dict per expectation, JSON-able (numpy / pandas scalars unwrapped, NaN and NA -> None): the
expectation, its column(s) and row condition, severity and why, the outcome, unexpected counts with a few
distinct examples and offending row keys, GX's error message when the expectation itself raised. The
markdown table of those rows is what the Dagster UI shows for a check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from quality.tables import BLOCKING, Severity

MAX_EXAMPLES = 5


# --- turning GX results into plain rows ------------------------------------------------------------------


def result_row(result: Any, offending_keys: Sequence[Any], integer_columns: frozenset[str]) -> dict[str, Any]:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    meta = config.meta or {}
    gx_result = dict(result.result or {})
    error = _exception_message(result.exception_info)
    columns = [kwargs[name] for name in ("column", "column_A", "column_B") if isinstance(kwargs.get(name), str)]
    columns += list(kwargs.get("column_list") or [])
    severity: Severity = meta.get("severity", BLOCKING)  # an untagged expectation is treated as blocking
    examples = _distinct(gx_result.get("partial_unexpected_list") or [], MAX_EXAMPLES)
    if len(columns) == 1 and columns[0] in integer_columns:
        examples = [int(value) if isinstance(value, float) and value.is_integer() else value for value in examples]
    return _jsonable(
        {
            "expectation_type": config.type,
            "columns": columns,
            "column": ", ".join(columns) or None,
            "row_condition": _describe_condition(kwargs.get("row_condition")),
            "parameters": _parameters(kwargs),
            "severity": severity,
            "why": meta.get("why"),
            "success": bool(result.success),
            "element_count": gx_result.get("element_count"),
            "unexpected_count": gx_result.get("unexpected_count"),
            "unexpected_percent": gx_result.get("unexpected_percent"),
            "unexpected_examples": examples,
            "unexpected_row_keys": _distinct(offending_keys, MAX_EXAMPLES),
            "observed_value": gx_result.get("observed_value"),
            "error": error,
        }
    )


def _exception_message(exception_info: Any) -> str | None:
    """GX catches an expectation's exception (e.g. `>=` between text and a number) and files it under the
    metric that raised, or flat; the expectation then fails. Return the first message, if any."""
    if not isinstance(exception_info, Mapping):
        return None
    candidates = [exception_info, *(value for value in exception_info.values() if isinstance(value, Mapping))]
    for info in candidates:
        if info.get("raised_exception") and info.get("exception_message"):
            return str(info["exception_message"])
    return None


_DOMAIN_KWARGS = {"column", "column_A", "column_B", "column_list", "row_condition", "condition_parser", "batch_id"}


def _parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if key not in _DOMAIN_KWARGS and value is not None}


def _describe_condition(condition: Any) -> str | None:
    from great_expectations.expectations.row_conditions import (
        AndCondition,
        ComparisonCondition,
        NullityCondition,
        OrCondition,
        deserialize_row_condition,
    )

    if condition is None or condition == "":
        return None
    if isinstance(condition, Mapping):
        condition = deserialize_row_condition(condition)
    if isinstance(condition, ComparisonCondition):
        return f"{condition.column.name} {getattr(condition.operator, 'value', condition.operator)} {condition.parameter!r}"
    if isinstance(condition, NullityCondition):
        return f"{condition.column.name} is {'null' if condition.is_null else 'not null'}"
    if isinstance(condition, AndCondition):
        return " and ".join(_describe_condition(part) or "" for part in condition.conditions)
    if isinstance(condition, OrCondition):
        return " or ".join(_describe_condition(part) or "" for part in condition.conditions)
    return str(condition)


def _distinct(values: Sequence[Any], limit: int) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        value = _jsonable(value)
        if value not in seen:
            seen.append(value)
        if len(seen) == limit:
            break
    return seen


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy / pandas scalars unwrapped, NaN and NA -> None, anything else -> str."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        try:
            return _jsonable(item())
        except (TypeError, ValueError):
            pass
    try:
        import pandas as pd

        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


# --- markdown for the Dagster UI -------------------------------------------------------------------------


def short_label(row: Mapping[str, Any]) -> str:
    where = f" where {row['row_condition']}" if row.get("row_condition") else ""
    columns = ", ".join(row["columns"]) or "table"
    return f"[{row['severity']}] {row['expectation_type']}({columns}){where}"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def results_markdown(results: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()) -> str:
    """A markdown table of every expectation: outcome, severity, unexpected count and examples."""
    lines = [
        "| result | severity | expectation | column(s) | condition | unexpected (% of non-null) | examples — offending rows | observed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        outcome = "pass" if row["success"] else ("ERROR" if row.get("error") else "FAIL")
        unexpected = row.get("unexpected_count")
        if unexpected is not None and row.get("unexpected_percent") is not None:
            unexpected = f"{unexpected} ({row['unexpected_percent']:.2f} %)"
        examples = row.get("unexpected_examples") or []
        keys = row.get("unexpected_row_keys") or []
        example_text = ", ".join(repr(example) for example in examples)
        if keys:
            example_text += " — rows " + ", ".join(
                "/".join(str(v) for v in key.values()) if isinstance(key, Mapping) else str(key) for key in keys
            )
        if row.get("error"):
            example_text = f"error: {row['error']}"
        lines.append(
            "| "
            + " | ".join(
                _cell(value)
                for value in (
                    outcome,
                    row["severity"],
                    row["expectation_type"],
                    ", ".join(row["columns"]),
                    row.get("row_condition"),
                    unexpected,
                    example_text,
                    row.get("observed_value"),
                )
            )
            + " |"
        )
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines)
