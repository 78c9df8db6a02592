"""What changed in one harmonised table between two consecutive GDC releases, per case and field.

Used on `harmonised/patients` and `harmonised/molecular_markers`: a new release re-serialises every
case, so "which cases really changed, and in which fields" is what an analyst (and the Dagster
metadata of a refresh) wants to see, not "every row was rewritten".

Rules, and why:
  * one row per added case and per removed case (`field`, `previous_value`, `current_value` null), and
    one row per changed field of a case present in both releases; unchanged cases give no row;
  * the `release` column and bookkeeping columns (`BOOKKEEPING_COLUMNS`, and any column whose name
    starts with `_`) are never compared: they differ from release to release by construction;
  * by default the compared columns are those both frames share (a column that exists on one side only
    is a schema change, not a case change); `compare_columns` names them explicitly;
  * null equals null; NaN equals NaN; floats within `float_tolerance` (absolute) are equal, so Parquet
    round trips and re-computation noise are not changes; an integer column compared with a float
    column (a dtype widened between releases) is compared as floats;
  * list and struct columns compare by value (an empty list is not null); their values are rendered
    as compact JSON;
  * values are rendered as text (`previous_value`, `current_value`), null stays null, so one long table
    holds changes of columns of every dtype.

Pure polars: one join, one vectorised comparison per column, one unpivot; no loop over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from contracts.schemas import RELEASE_CHANGES_SCHEMA

CHANGE_ADDED = "added"
CHANGE_REMOVED = "removed"
CHANGE_CHANGED = "changed"
CHANGE_KINDS: tuple[str, ...] = (CHANGE_ADDED, CHANGE_REMOVED, CHANGE_CHANGED)

# Columns that describe the load, not the case; never compared (nor any column starting with "_").
BOOKKEEPING_COLUMNS: frozenset[str] = frozenset(
    {"release", "ingested_at", "loaded_at", "materialized_at", "run_id", "content_hash", "row_hash"}
)

DEFAULT_FLOAT_TOLERANCE = 1e-9

_PREVIOUS = "__previous__"  # suffix of the previous release's columns after the join
_NESTED_PREFIX = '{"v":'


def _is_ignored(column: str) -> bool:
    return column in BOOKKEEPING_COLUMNS or column.startswith("_")


def _is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.List, pl.Array, pl.Struct))


def _as_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A value as text, null-safe: JSON for lists/structs, polars' own cast otherwise."""
    if _is_nested(dtype):
        # json_encode works on structs only: wrap the value in {"v": ...} and strip the wrapper again.
        encoded = pl.struct(expr.alias("v")).struct.json_encode()
        text = encoded.str.strip_prefix(_NESTED_PREFIX).str.strip_suffix("}")
        return pl.when(expr.is_null()).then(pl.lit(None, pl.String)).otherwise(text)
    if dtype == pl.String:
        return expr
    return expr.cast(pl.String)


def _differs(
    current: pl.Expr, previous: pl.Expr, current_dtype: pl.DataType, previous_dtype: pl.DataType, tolerance: float
) -> pl.Expr:
    """True where the two values differ by the module's rules (never null)."""
    if (
        current_dtype.is_numeric()
        and previous_dtype.is_numeric()
        and (current_dtype.is_float() or previous_dtype.is_float())
    ):
        a, b = current.cast(pl.Float64), previous.cast(pl.Float64)
        same = (
            (a.is_null() & b.is_null())
            | (a.is_nan() & b.is_nan())
            | (a == b)  # also +inf == +inf, where the difference is NaN
            | ((a - b).abs() <= tolerance)
        )
        return ~same.fill_null(False)
    if current_dtype == previous_dtype:
        return ~current.eq_missing(previous)
    # Dtypes differ between releases (e.g. Int8 -> Int16, String -> Categorical): compare what an analyst sees.
    return ~_as_text(current, current_dtype).eq_missing(_as_text(previous, previous_dtype))


def _check_keys(frame: pl.DataFrame, key: str, side: str) -> None:
    if key not in frame.columns:
        raise ValueError(f"release_changes: {side} frame has no key column {key!r} (columns: {frame.columns})")
    nulls = frame.get_column(key).null_count()
    if nulls:
        raise ValueError(f"release_changes: {side} frame has {nulls} row(s) with a null {key!r}")
    duplicated = frame.filter(pl.col(key).is_duplicated()).get_column(key).unique().sort()
    if duplicated.len():
        raise ValueError(
            f"release_changes: {side} frame has {duplicated.len()} duplicated {key!r} value(s), e.g. "
            f"{duplicated.head(3).to_list()}: one row per case is required to diff releases"
        )


def _fields(
    previous: pl.DataFrame | None, current: pl.DataFrame, key: str, compare_columns: Sequence[str] | None
) -> list[str]:
    if compare_columns is not None:
        fields = list(dict.fromkeys(compare_columns))
        if key in fields:
            raise ValueError(f"release_changes: the key {key!r} cannot be a compared column")
        for side, frame in (("current", current), ("previous", previous)):
            missing = [c for c in fields if frame is not None and c not in frame.columns]
            if missing:
                raise ValueError(f"release_changes: compare_columns {missing} not in the {side} frame")
        return fields
    shared = set(previous.columns) if previous is not None else set(current.columns)
    return [c for c in current.columns if c != key and c in shared and not _is_ignored(c)]


def _case_rows(
    frame: pl.DataFrame, key: str, change: str, releases: tuple[str | None, str], table: str
) -> pl.DataFrame:
    return frame.select(
        pl.col(key).cast(pl.String).alias("case_id"),
        pl.lit(releases[0], pl.String).alias("previous_release"),
        pl.lit(releases[1], pl.String).alias("release"),
        pl.lit(change, pl.String).alias("change"),
        pl.lit(table, pl.String).alias("table"),
        pl.lit(None, pl.String).alias("field"),
        pl.lit(None, pl.String).alias("previous_value"),
        pl.lit(None, pl.String).alias("current_value"),
    )


def release_changes(
    previous: pl.DataFrame | None,
    current: pl.DataFrame,
    *,
    previous_release: str | None,
    current_release: str,
    table: str,
    key: str = "case_id",
    compare_columns: Sequence[str] | None = None,
    float_tolerance: float = DEFAULT_FLOAT_TOLERANCE,
) -> pl.DataFrame:
    """Rows of `RELEASE_CHANGES_SCHEMA`: added and removed cases, and each changed field of the others.

    `previous=None` (the first release) makes every case `added`. The output's `case_id` holds the `key`
    values (as text). Rows are ordered added, removed, changed; then by case id; fields in column order.
    Raises ValueError on a missing, null or duplicated key, or on `compare_columns` absent from a frame.
    """
    if float_tolerance < 0:
        raise ValueError(f"release_changes: float_tolerance must be >= 0, got {float_tolerance!r}")
    _check_keys(current, key, "current")
    releases = (previous_release, current_release)
    if previous is None:
        return _case_rows(current, key, CHANGE_ADDED, releases, table).sort("case_id")
    _check_keys(previous, key, "previous")
    fields = _fields(previous, current, key, compare_columns)

    keys_current, keys_previous = current.select(key), previous.select(key)
    if keys_current.schema[key] != keys_previous.schema[key]:
        keys_current = keys_current.with_columns(pl.col(key).cast(pl.String))
        keys_previous = keys_previous.with_columns(pl.col(key).cast(pl.String))
    added = _case_rows(keys_current.join(keys_previous, on=key, how="anti"), key, CHANGE_ADDED, releases, table)
    removed = _case_rows(keys_previous.join(keys_current, on=key, how="anti"), key, CHANGE_REMOVED, releases, table)

    current_part = current.select(pl.col(key).cast(pl.String), *fields)
    previous_part = previous.select(pl.col(key).cast(pl.String), *(pl.col(f).alias(f + _PREVIOUS) for f in fields))
    both = current_part.join(previous_part, on=key, how="inner")
    flags = [
        _differs(pl.col(f), pl.col(f + _PREVIOUS), current.schema[f], previous.schema[f], float_tolerance).alias(f)
        for f in fields
    ]
    if not flags:
        changed = pl.DataFrame(schema=RELEASE_CHANGES_SCHEMA)
    else:
        # Render values only for the cases that changed somewhere (usually a small share of the release).
        touched = both.with_columns(flags_struct=pl.struct(flags)).filter(
            pl.any_horizontal(pl.col("flags_struct").struct.field(f) for f in fields)
        )
        cells = touched.select(
            pl.col(key).alias("case_id"),
            *(
                pl.struct(
                    pl.col("flags_struct").struct.field(f).alias("changed"),
                    _as_text(pl.col(f + _PREVIOUS), previous.schema[f]).alias("previous_value"),
                    _as_text(pl.col(f), current.schema[f]).alias("current_value"),
                ).alias(f)
                for f in fields
            ),
        )
        changed = (
            cells.unpivot(index="case_id", on=fields, variable_name="field", value_name="cell")
            .unnest("cell")
            .filter(pl.col("changed"))
            .sort("case_id", maintain_order=True)  # unpivot emits column by column: keep field order per case
            .select(
                "case_id",
                pl.lit(previous_release, pl.String).alias("previous_release"),
                pl.lit(current_release, pl.String).alias("release"),
                pl.lit(CHANGE_CHANGED, pl.String).alias("change"),
                pl.lit(table, pl.String).alias("table"),
                "field",
                "previous_value",
                "current_value",
            )
        )
    return pl.concat([added.sort("case_id"), removed.sort("case_id"), changed], how="vertical").cast(
        RELEASE_CHANGES_SCHEMA  # type: ignore[arg-type]
    )


def summarise_release_changes(changes: pl.DataFrame, *, top: int = 10) -> dict[str, Any]:
    """Plain-Python counts for Dagster metadata: cases added / removed / changed, field changes, and
    the `top` fields by number of changed cases (ties by name)."""
    counts = {kind: 0 for kind in CHANGE_KINDS}
    for kind, n in changes.group_by("change").agg(pl.col("case_id").n_unique().alias("n")).iter_rows():
        counts[kind] = int(n)
    changed = changes.filter(pl.col("change") == CHANGE_CHANGED)
    by_field = (
        changed.group_by("field")
        .agg(pl.col("case_id").n_unique().alias("cases"))
        .sort(["cases", "field"], descending=[True, False])
        .head(top)
    )
    return {
        "cases_added": counts[CHANGE_ADDED],
        "cases_removed": counts[CHANGE_REMOVED],
        "cases_changed": counts[CHANGE_CHANGED],
        "field_changes": changed.height,
        "fields_changed": int(changed.get_column("field").n_unique()),
        "top_changed_fields": {str(f): int(n) for f, n in by_field.iter_rows()},
    }
