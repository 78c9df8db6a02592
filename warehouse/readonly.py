"""Analysts' connections to the catalog, read-only in every sense: the catalog file is opened read-only, DuckDB may
touch no file outside the lake directories the catalog's views read (no `read_csv('/etc/passwd')`, no COPY or
EXPORT to a file, no ATTACH, no extension install), the configuration is locked, and `glioma sql` runs queries
only, so even a COPY into the lake's own directory is refused before DuckDB sees it.

    from warehouse.readonly import connect
    catalog = connect("data/warehouse.duckdb")
    catalog.sql("select risk_group, count(*) from scores.survival_risk_current group by all").show()
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

# What an analyst's statement may be: a query (SELECT, FROM-first, DESCRIBE, SHOW, SUMMARIZE, PRAGMA of a
# table function) or its plan.
QUERY_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
_LAKE_DIRECTORY = re.compile(r"'(/[^']*/lake/)[^']*\.parquet'")


class ReadOnlyError(RuntimeError):
    """A statement an analyst's connection does not run."""


def check_query(sql: str) -> None:
    """Raise ReadOnlyError naming the first statement of `sql` that is not a query."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return  # not parsable: DuckDB itself reports the syntax error with its position
    for statement in statements:
        if statement.type not in QUERY_STATEMENTS:
            kind = statement.type.name
            raise ReadOnlyError(
                f"the catalog is read-only: {kind} statements are not run here (queries only: SELECT, FROM, "
                f"DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); refused: {statement.query.strip()[:200]}"
            )


def lake_directories(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """The lake directories the catalog's views read (absolute, with a trailing slash)."""
    found: set[str] = set()
    for (sql,) in connection.execute("select sql from duckdb_views() where not internal").fetchall():
        found.update(_LAKE_DIRECTORY.findall(sql or ""))
    return sorted(found)


def restrict(connection: duckdb.DuckDBPyConnection, directories: list[str]) -> duckdb.DuckDBPyConnection:
    """Allow file access to `directories` only, turn every other external access off and lock the settings.
    Within one process DuckDB hands every connect() of a file the same database, so a second analyst connection
    finds it restricted and locked already: nothing to do then."""
    locked = connection.execute("select current_setting('lock_configuration')").fetchone()[0]
    if locked:
        if connection.execute("select current_setting('enable_external_access')").fetchone()[0]:
            raise ReadOnlyError("the catalog was opened in this process with its configuration locked open")
        return connection
    if directories:
        connection.execute("set allowed_directories = ?", [directories])
    connection.execute("set enable_external_access = false")
    connection.execute("set lock_configuration = true")
    return connection


class ReadOnlyConnection:
    """A DuckDB connection that runs queries only (`execute`, `sql`, `query`, `executemany` check each statement
    first); everything else is the wrapped connection's. A safety net for analysts' code, not a sandbox: Python
    itself can still write files."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    def execute(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        check_query(query)
        return self._connection.execute(query, parameters)

    def executemany(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        check_query(query)
        return self._connection.executemany(query, parameters)

    def sql(self, query: str, *args: object, **kwargs: object) -> duckdb.DuckDBPyRelation:
        check_query(query)
        return self._connection.sql(query, *args, **kwargs)

    query = sql

    def __getattr__(self, name: str) -> object:
        return getattr(self._connection, name)

    def __enter__(self) -> ReadOnlyConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()


def connect(catalog: Path | str) -> ReadOnlyConnection:
    """A read-only, locked connection to a local catalog file that runs queries only (module docstring)."""
    connection = duckdb.connect(str(Path(catalog).expanduser().resolve()), read_only=True)
    try:
        return ReadOnlyConnection(restrict(connection, lake_directories(connection)))
    except BaseException:
        connection.close()
        raise
