"""The analysts' DuckDB catalog: views over the Parquet lake, republished atomically.

DuckDB allows one writer per file. So the catalog is never written in place: a new file is built
beside it and renamed over the old one. An analyst's open read-only connection keeps reading the old
file until it reconnects; a refresh never waits for, or blocks, an analyst.

    duckdb -readonly data/warehouse.duckdb "select * from scores.grading_current limit 5"
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from warehouse.lake import Lake

# (layer, table) pairs the catalog exposes as `<layer>.<table>` views when the lake has them.
CATALOG_TABLES: tuple[tuple[str, str], ...] = (
    ("raw", "gdc_cases"),
    ("raw", "gdc_ssm_occurrences"),
    ("raw", "gdc_cnv_occurrences"),
    ("raw", "gdc_methylation_files"),
    ("raw", "mgmt_probe_betas"),
    ("harmonised", "patients"),
    ("harmonised", "molecular_markers"),
    ("harmonised", "who_cns5_class"),
    ("harmonised", "quarantine"),
    ("features", "model_matrix"),
    ("features", "feature_list"),
    ("scores", "grading"),
    ("scores", "survival_risk"),
)

# Layers whose "current" rows depend on the model registry, not only on the release.
CHAMPION_LAYERS = frozenset({"scores"})


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class PublishedCatalog:
    path: Path
    views: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def publish_catalog(
    lake: Lake,
    catalog_path: Path,
    *,
    registry_path: Path | None = None,
    extra_views: Iterable[tuple[str, Iterable[str], str]] = (),
) -> PublishedCatalog:
    """Build the catalog in a temporary file, then atomically rename it to `catalog_path`.

    `extra_views`: (qualified view name, required source views, select SQL) — created only when every
    source view exists, so a partly built lake still publishes a valid catalog.
    """
    catalog_path = Path(catalog_path)
    catalog_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{catalog_path.name}.", suffix=".tmp", dir=catalog_path.parent)
    os.close(handle)
    os.unlink(temp_name)  # DuckDB wants to create the file itself
    published = PublishedCatalog(path=catalog_path)
    latest_release: dict[str, str] = {}
    try:
        connection = duckdb.connect(temp_name)
        try:
            for layer, table in CATALOG_TABLES:
                if not lake.releases(layer, table):
                    continue
                connection.execute(f"create schema if not exists {layer}")
                # Files carry their own `release` column, so hive partition parsing stays off.
                connection.execute(
                    f"create view {layer}.{table} as select * from read_parquet("
                    f"{sql_string(lake.glob(layer, table))}, hive_partitioning = false, union_by_name = true)"
                )
                published.views.append(f"{layer}.{table}")
                latest = lake.releases(layer, table)[-1]
                latest_release[f"{layer}.{table}"] = latest
                if layer in CHAMPION_LAYERS:
                    continue  # their `_current` views also pick the champion model (warehouse.views)
                # `<table>_current`: the newest release only — what most questions are about.
                connection.execute(
                    f"create view {layer}.{table}_current as select * from {layer}.{table} "
                    f"where release = {sql_string(latest)}"
                )
                published.views.append(f"{layer}.{table}_current")
            if registry_path is not None and Path(registry_path).exists():
                connection.execute(f"attach {sql_string(str(registry_path))} as model_registry (read_only)")
                connection.execute("create schema if not exists registry")
                # A copy, not a view: the catalog must not hold the registry file open.
                for schema_name, table_name in connection.execute(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_catalog = 'model_registry'"
                ).fetchall():
                    connection.execute(
                        f"create table registry.{table_name} as "
                        f"select * from model_registry.{schema_name}.{table_name}"
                    )
                    published.tables.append(f"registry.{table_name}")
                connection.execute("detach model_registry")
            available = set(published.views) | set(published.tables)
            for name, sources, sql in extra_views:
                if not set(sources) <= available:
                    continue
                connection.execute(f"create schema if not exists {name.split('.')[0]}")
                latest = latest_release.get(sources[0]) if sources else None
                sql = sql.replace("{latest_release}", sql_string(latest) if latest else "null")
                connection.execute(f"create view {name} as {sql}")
                published.views.append(name)
                available.add(name)
            connection.execute("checkpoint")
        finally:
            connection.close()
        os.replace(temp_name, catalog_path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        Path(temp_name + ".wal").unlink(missing_ok=True)
        raise
    return published
