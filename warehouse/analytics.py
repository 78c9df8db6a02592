"""Small computed tables of the analysts' catalog (not views: DuckDB SQL cannot compute them).

- `analytics.survival_by_group`: Kaplan-Meier curves (sksurv `kaplan_meier_estimator`, log-log 95% band)
  of the newest published release, by the champion's risk group and by WHO CNS5 class.
- `quality.check_results`: every expectation of every quality check run, read from the JSON files the
  checks write under `<data>/reports/<release>/checks/<table>.json`.

`analyst_tables(source)` computes both. warehouse.catalog.publish_catalog calls it on its temporary
connection once the views exist, so the curves use exactly the release and champion that the catalog's
`_current` views publish (no second notion of "newest release" or "champion" to drift). The other
functions are pure (frames or files in, frames out).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from contracts.schemas import DAYS_PER_MONTH
from contracts.tables import TableSpec
from lake.store import Lake, release_sort_key

SURVIVAL_BY_GROUP_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "grouping": pl.String(),
    "group": pl.String(),
    "time_months": pl.Float64(),
    "survival": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "at_risk": pl.Int64(),
    "events": pl.Int64(),
    "n_patients": pl.Int64(),
    "model_version": pl.String(),
}
SURVIVAL_BY_GROUP = TableSpec(
    "analytics",
    "survival_by_group",
    "Kaplan-Meier overall survival of the newest published release (sksurv kaplan_meier_estimator, log-log 95% "
    "band), one curve per risk group of the champion survival model (grouping = 'risk_group') and per WHO CNS5 "
    "class (grouping = 'who_cns5_class'); one row per distinct time of a death or censoring in the group. S(t) is "
    '1 before the first row and steps at each row. Quote the column "group" in SQL (a keyword).',
    SURVIVAL_BY_GROUP_SCHEMA,
    {
        "release": "GDC release of the patients (the newest published release)",
        "grouping": "what the curves are split by: risk_group or who_cns5_class",
        "group": 'the group\'s value, e.g. high, or glioblastoma, IDH-wildtype (quote it: "group")',
        "time_months": f"time since diagnosis in months ({DAYS_PER_MONTH} days) of a death or censoring",
        "survival": "Kaplan-Meier estimate of overall survival S(t) just after time_months",
        "ci_low": "95% pointwise confidence band of S(t), lower (log-log transform)",
        "ci_high": "95% pointwise confidence band of S(t), upper (log-log transform)",
        "at_risk": "patients of the group still followed at time_months (observed time >= time_months)",
        "events": "deaths of the group at exactly time_months",
        "n_patients": "patients of the group with a survival time and event (the curve's n)",
        "model_version": "survival model whose risk groups these are (the champion); null for who_cns5_class",
    },
    partitioned=False,
    in_catalog=False,
)

CHECK_RESULTS_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "table": pl.String(),
    "check": pl.String(),
    "expectation_type": pl.String(),
    "column": pl.String(),
    "severity": pl.String(),
    "success": pl.Boolean(),
    "unexpected_count": pl.Int64(),
    "source_file": pl.String(),
}
CHECK_RESULTS = TableSpec(
    "quality",
    "check_results",
    "One row per expectation of every quality check run (Great Expectations suites as Dagster asset checks), per "
    "release and table, read from <data>/reports/<release>/checks/*.json at publish time. Releases not (yet) "
    "published in the views are listed too.",
    CHECK_RESULTS_SCHEMA,
    {
        "release": "GDC release the checked partition belongs to",
        "table": "the checked lake table, e.g. harmonised/patients",
        "check": "the check run that produced the result, e.g. great_expectations (one validation behind the asset "
        "checks blocking_expectations and warning_expectations; severity tells them apart)",
        "expectation_type": "Great Expectations expectation, e.g. expect_column_values_to_not_be_null",
        "column": "column the expectation is about (null for table-level expectations)",
        "severity": "blocking (a failure stops downstream assets) or warning",
        "success": "the expectation passed",
        "unexpected_count": "rows that failed the expectation (null when it does not count rows)",
        "source_file": "the check-results file, relative to <data>/reports",
    },
    partitioned=False,
    in_catalog=False,
)

ANALYST_TABLES: tuple[TableSpec, ...] = (SURVIVAL_BY_GROUP, CHECK_RESULTS)
ANALYST_TABLES_BY_NAME: dict[str, TableSpec] = {table.qualified_name: table for table in ANALYST_TABLES}

RISK_GROUP_ORDER: tuple[str, ...] = ("low", "intermediate", "high")
CHECKS_DIR = "checks"


# --- Kaplan-Meier -------------------------------------------------------------------------------------------------


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def kaplan_meier_table(
    frame: pl.DataFrame,
    group_column: str,
    *,
    release: str | None = None,
    model_version: str | None = None,
    order: Iterable[str] = (),
) -> pl.DataFrame:
    """Kaplan-Meier table per value of `group_column` (SURVIVAL_BY_GROUP_SCHEMA rows, grouping = group_column).

    `frame` holds `overall_survival_days`, `death_observed` and `group_column`. Rows without a survival
    time or event, with a negative or NaN time, or without a group are left out. Groups come in `order`
    first, then alphabetically. Each row is one distinct time of the estimator's output, with the patients
    at risk (time >= t) and the deaths at t.
    """
    from sksurv.nonparametric import kaplan_meier_estimator

    data = frame.select(
        pl.col("overall_survival_days").cast(pl.Float64).fill_nan(None).alias("days"),
        pl.col("death_observed").cast(pl.Boolean).alias("event"),
        pl.col(group_column).cast(pl.String).alias("group"),
    ).filter(
        pl.col("days").is_not_null()
        & (pl.col("days") >= 0)
        & pl.col("event").is_not_null()
        & pl.col("group").is_not_null()
    )
    present = set(data["group"].unique().to_list())
    order = [name for name in order if name in present]
    groups = order + sorted(present - set(order))
    parts = []
    for name in groups:
        rows = data.filter(pl.col("group") == name)
        days = rows["days"].to_numpy()
        event = rows["event"].to_numpy().astype(bool)
        times, survival, band = kaplan_meier_estimator(event, days, conf_type="log-log")
        # O(n log n): patients with time >= t, and deaths at exactly t
        at_risk = len(days) - np.searchsorted(np.sort(days), times, side="left")
        deaths = np.zeros(len(times), dtype=np.int64)
        if event.any():  # every death time is one of the estimator's (unique) times
            death_times, death_counts = np.unique(days[event], return_counts=True)
            deaths[np.searchsorted(times, death_times)] = death_counts
        parts.append(
            pl.DataFrame(
                {
                    "release": [release] * len(times),
                    "grouping": group_column,
                    "group": name,
                    "time_months": times / DAYS_PER_MONTH,
                    "survival": survival,
                    "ci_low": np.asarray(band[0], dtype=np.float64),
                    "ci_high": np.asarray(band[1], dtype=np.float64),
                    "at_risk": at_risk.astype(np.int64),
                    "events": deaths.astype(np.int64),
                    "n_patients": np.full(len(times), len(days), dtype=np.int64),
                    "model_version": [model_version] * len(times),
                },
                schema=SURVIVAL_BY_GROUP_SCHEMA,
            )
        )
    if not parts:
        return _empty(SURVIVAL_BY_GROUP_SCHEMA)
    return pl.concat(parts).with_columns(pl.col(c).fill_nan(None) for c in ("survival", "ci_low", "ci_high"))


def _single(frame: pl.DataFrame, column: str) -> str | None:
    values = frame[column].drop_nulls().unique().to_list() if frame.height else []
    if len(values) > 1:
        raise ValueError(f"survival_by_group: expected one {column}, found {sorted(values)}")
    return values[0] if values else None


def survival_by_group(risk: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """Both groupings of the newest release, stacked.

    `risk`: the champion's survival scores joined to the patients (overall_survival_days, death_observed,
    risk_group, release, model_version). `classes`: patients joined to their WHO CNS5 class
    (overall_survival_days, death_observed, who_cns5_class, release).
    """
    by_risk = kaplan_meier_table(
        risk,
        "risk_group",
        release=_single(risk, "release"),
        model_version=_single(risk, "model_version"),
        order=RISK_GROUP_ORDER,
    )
    by_class = kaplan_meier_table(classes, "who_cns5_class", release=_single(classes, "release"))
    return pl.concat([by_risk, by_class])


# --- quality check results ---------------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _records(document: Any) -> list[dict]:
    """A check file holds one check run (`{"table", "release", "check", "results": [...]}`) or a list of them."""
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list) and all(isinstance(item, dict) for item in document):
        return document
    raise ValueError("expected a JSON object with 'results' (or a list of them)")


def read_check_results(reports_dir: Path | str) -> pl.DataFrame:
    """Every expectation result under `<reports_dir>/<release>/checks/` (CHECK_RESULTS_SCHEMA rows).

    Files are read in release order, then path order. A file that is not valid JSON of the expected shape
    raises ValueError naming it: a silently missing check would make the quality table untrustworthy.
    Hidden files (temporary names of an atomic write in progress) are skipped.
    """
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return _empty(CHECK_RESULTS_SCHEMA)
    files = [
        path
        for path in reports_dir.glob(f"*/{CHECKS_DIR}/**/*.json")
        if not any(part.startswith(".") for part in path.relative_to(reports_dir).parts)
    ]
    files.sort(key=lambda p: (release_sort_key(p.relative_to(reports_dir).parts[0]), str(p)))
    rows: list[dict] = []
    for path in files:
        relative = path.relative_to(reports_dir)
        try:
            documents = _records(json.loads(path.read_text(encoding="utf-8")))
            for document in documents:
                results = document.get("results", [])
                if not isinstance(results, list):
                    raise ValueError("'results' is not a list")
                for result in results:
                    if not isinstance(result, dict):
                        raise ValueError("a result is not a JSON object")
                    success = result.get("success")
                    rows.append(
                        {
                            "release": str(document.get("release") or relative.parts[0]),
                            "table": document.get("table") or path.stem,
                            "check": document.get("check"),
                            "expectation_type": result.get("expectation_type"),
                            "column": result.get("column"),
                            "severity": result.get("severity"),
                            "success": success if isinstance(success, bool) else None,
                            "unexpected_count": _int_or_none(result.get("unexpected_count")),
                            "source_file": str(relative),
                        }
                    )
        except (ValueError, OSError, UnicodeDecodeError) as error:
            raise ValueError(f"quality check results {path}: cannot be read: {error}") from error
    if not rows:
        return _empty(CHECK_RESULTS_SCHEMA)
    return pl.DataFrame(rows, schema=CHECK_RESULTS_SCHEMA)


# --- from a catalog ----------------------------------------------------------------------------------------------

_RISK_SQL = """
    select p.release, p.overall_survival_days, p.death_observed, s.risk_group, s.model_version
    from scores.survival_risk_current s
    join harmonised.patients_current p on p.case_id = s.case_id
"""
_CLASS_SQL = """
    select p.release, p.overall_survival_days, p.death_observed, w.who_cns5_class
    from harmonised.patients_current p
    join harmonised.who_cns5_class_current w on w.case_id = p.case_id
"""


def _existing(connection: duckdb.DuckDBPyConnection) -> set[str]:
    rows = connection.execute(
        "select schema_name || '.' || view_name from duckdb_views() where not internal "
        "union all select schema_name || '.' || table_name from duckdb_tables() where not internal"
    ).fetchall()
    return {row[0] for row in rows}


def _query(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    needs: tuple[str, ...],
    existing: set[str],
    schema: dict[str, pl.DataType],
) -> pl.DataFrame:
    if not set(needs) <= existing:
        return pl.DataFrame(schema=schema)
    return connection.execute(sql).pl()


def analyst_tables(
    source: duckdb.DuckDBPyConnection | Lake | Path | str,
    *,
    reports_dir: Path | str | None = None,
) -> dict[str, pl.DataFrame]:
    """`{"analytics.survival_by_group": ..., "quality.check_results": ...}`.

    `source`: a DuckDB connection to a catalog whose views exist (publish_catalog passes its temporary
    connection), or a Lake / data directory, whose published catalog (`<data>/warehouse.duckdb`) is then
    opened read-only. `reports_dir` defaults to `<data>/reports` for a data directory; with a bare
    connection and no `reports_dir`, the check results are empty.
    """
    if not isinstance(source, duckdb.DuckDBPyConnection):
        data_dir = source.data_dir if isinstance(source, Lake) else Path(source).resolve()
        catalog = data_dir / "warehouse.duckdb"
        if not catalog.exists():
            raise FileNotFoundError(f"no catalog at {catalog}: publish it first (the warehouse/catalog asset)")
        with duckdb.connect(str(catalog), read_only=True) as connection:
            return analyst_tables(
                connection, reports_dir=reports_dir if reports_dir is not None else data_dir / "reports"
            )
    existing = _existing(source)
    risk_schema = {
        "release": pl.String(),
        "overall_survival_days": pl.Float64(),
        "death_observed": pl.Boolean(),
        "risk_group": pl.String(),
        "model_version": pl.String(),
    }
    class_schema = {
        "release": pl.String(),
        "overall_survival_days": pl.Float64(),
        "death_observed": pl.Boolean(),
        "who_cns5_class": pl.String(),
    }
    risk = _query(
        source, _RISK_SQL, ("scores.survival_risk_current", "harmonised.patients_current"), existing, risk_schema
    )
    classes = _query(
        source, _CLASS_SQL, ("harmonised.who_cns5_class_current", "harmonised.patients_current"), existing, class_schema
    )
    checks = read_check_results(reports_dir) if reports_dir is not None else _empty(CHECK_RESULTS_SCHEMA)
    return {
        SURVIVAL_BY_GROUP.qualified_name: survival_by_group(risk, classes),
        CHECK_RESULTS.qualified_name: checks,
    }
