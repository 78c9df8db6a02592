"""What every asset of a lake table shares, derived from its one declaration in contracts/tables.py:
key, description, group, column schema, owners, tags and a code version; plus the GDC-facing policy
(retries with backoff and jitter, the `gdc_api` concurrency pool)."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
from dagster import (
    AssetKey,
    AssetSpec,
    Backoff,
    Jitter,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableSchema,
)

import contracts.features
import contracts.schemas
from assets.partitions import gdc_releases
from contracts.tables import TableSpec

# Who answers for what: data engineers own ingestion and harmonisation, biostatisticians models and scores.
OWNERS: dict[str, list[str]] = {
    "raw": ["team:data-engineering"],
    "harmonised": ["team:data-engineering"],
    "features": ["team:biostatistics"],
    "models": ["team:biostatistics"],
    "scores": ["team:biostatistics"],
    "analytics": ["team:biostatistics"],
    "ops": ["team:data-engineering"],
    "warehouse": ["team:data-engineering"],
}

# Bounds GDC requests and downloads across all runs (limit set in the instance's dagster.yaml).
GDC_POOL = "gdc_api"

# A step that fails on a transient GDC problem (after the client's own HTTP retries) is retried as a whole.
# Errors that cannot clear (4xx, malformed answers) raise Failure(allow_retries=False) and fail at once.
GDC_RETRY_POLICY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

_DTYPE_NAMES: dict[type, str] = {
    pl.String: "string",
    pl.Boolean: "bool",
    pl.Float64: "float64",
    pl.Int8: "int8",
    pl.Int16: "int16",
    pl.Int32: "int32",
    pl.Int64: "int64",
    pl.UInt32: "uint32",
}


def dtype_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.List):
        return f"list<{dtype_name(dtype.inner)}>"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return (
            f"timestamp[{dtype.time_unit}, {dtype.time_zone}]" if dtype.time_zone else f"timestamp[{dtype.time_unit}]"
        )
    return _DTYPE_NAMES.get(type(dtype), str(dtype).lower())


def column_schema(table: TableSpec) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=name, type=dtype_name(dtype), description=text) for name, dtype, text in table.columns()
        ]
    )


def asset_key(table: TableSpec) -> AssetKey:
    return AssetKey(list(table.key))


def source_version(*parts: ModuleType | Callable[..., Any] | str) -> str:
    """A short hash of the source that computes an asset: it changes exactly when that code changes,
    so Dagster can tell a stale materialisation from a fresh one. The declared schemas and feature lists
    (`contracts`) shape every table, so they are part of every version. A part given by its dotted module name
    is read from its file without importing it, so a step process imports only the libraries its own step uses."""
    digest = hashlib.sha256()
    for part in (*parts, contracts.schemas, contracts.features):
        if isinstance(part, str):
            spec = importlib.util.find_spec(part)
            if spec is None or spec.origin is None:
                raise ModuleNotFoundError(f"source_version: no module {part!r}")
            digest.update(Path(spec.origin).read_text().encode())
        else:
            digest.update(inspect.getsource(part).encode())
    return digest.hexdigest()[:12]


def table_metadata(table: TableSpec) -> dict[str, Any]:
    return {"dagster/column_schema": column_schema(table), "dagster/table_name": table.qualified_name}


def _table_fields(
    table: TableSpec,
    deps: Iterable[TableSpec | AssetKey | Any],
    code: Sequence[ModuleType | Callable[..., Any]],
    kinds: Iterable[str],
) -> dict[str, Any]:
    """What `@asset` and `AssetSpec` share for the asset that writes `table`."""
    return {
        "key": asset_key(table),
        "deps": [asset_key(dep) if isinstance(dep, TableSpec) else dep for dep in deps],
        "description": table.description,
        "group_name": table.layer,
        "kinds": set(kinds),
        "owners": OWNERS[table.layer],
        "tags": {"layer": table.layer},
        "metadata": table_metadata(table),
        "code_version": source_version(*code) if code else None,
        "partitions_def": gdc_releases if table.partitioned else None,
    }


def table_asset_args(
    table: TableSpec,
    *,
    deps: Iterable[TableSpec | AssetKey | Any] = (),
    code: Sequence[ModuleType | Callable[..., Any]] = (),
    kinds: Iterable[str] = ("polars", "parquet"),
    gdc_facing: bool = False,
) -> dict[str, Any]:
    """Keyword arguments of `@asset` for the asset that writes `table`."""
    args = _table_fields(table, deps, code, kinds)
    if gdc_facing:
        args["retry_policy"] = GDC_RETRY_POLICY
        args["pool"] = GDC_POOL
    return args


def table_asset_spec(
    table: TableSpec, *, deps: Iterable[TableSpec | AssetKey] = (), code: Sequence[ModuleType | Callable[..., Any]] = ()
) -> AssetSpec:
    """An AssetSpec for one output of a `multi_asset` (one step that writes several tables)."""
    return AssetSpec(**_table_fields(table, deps, code, ("polars", "parquet")))


def written_metadata(written: Any, frame: pl.DataFrame | None = None, **extra: Any) -> dict[str, Any]:
    """Row count (`dagster/row_count` shows in the UI's asset table), size and path of a written partition."""
    rows = written.rows if frame is None else frame.height
    return {
        "dagster/row_count": rows,
        "bytes": written.bytes,
        "path": MetadataValue.path(str(written.path)),
        **extra,
    }
