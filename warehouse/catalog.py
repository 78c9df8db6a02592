"""The analysts' DuckDB catalog: views over the Parquet lake, republished atomically.

DuckDB allows one writer per file. So the catalog is never written in place: a new file is built
beside it and renamed over the old one. An analyst's open read-only connection keeps reading the old
file until it reconnects; a refresh never waits for, or blocks, an analyst.

What a view shows is fixed when the catalog is published: each view lists partition files by name (no glob
at query time), one version per table and release. The publish is the lake's commit: it picks, for every
release whose tables are all there, the version the publishing run wrote or else the committed one
(lake.store), writes them to the lake manifest and only then renames the new catalog into place. So a
release whose refresh is still running, failed or was killed is invisible in every view (all-release and
`_current`), and so is a rerun of a published release until its own publish.

An object-store lake (lake.object_store) gets views over `s3://` URLs, read through DuckDB's httpfs, and
the catalog file is uploaded beside the lake (`s3://bucket/prefix/warehouse.duckdb`) after the commit, as well
as renamed into place locally.

Every view and column carries a COMMENT generated from the table declarations (contracts/tables.py),
and so does every table: the registry copy (warehouse.views.REGISTRY_COLUMNS), ops.catalog_releases and
the analyst tables computed once the views exist (warehouse.analytics: Kaplan-Meier curves by group,
quality check results).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath

import duckdb
import polars as pl

from contracts.tables import CATALOG_TABLES, UNLISTED_TABLES, TableSpec
from lake.crashpoints import crash_point
from lake.files import replace_durably, temporary_file
from lake.manifest import ManifestError, repair_command
from lake.store import Lake, release_sort_key
from models.registry import ensure_registry
from warehouse.analytics import ANALYST_TABLES_BY_NAME, analyst_tables
from warehouse.views import ANALYST_VIEWS, REGISTRY_COLUMNS, REGISTRY_DESCRIPTION, AnalystView


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_DUCKDB_TYPES: dict[type, str] = {
    pl.String: "VARCHAR",
    pl.Boolean: "BOOLEAN",
    pl.Float64: "DOUBLE",
    pl.Float32: "FLOAT",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt32: "UINTEGER",
}


def duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.List):
        return f"{duckdb_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    return _DUCKDB_TYPES[type(dtype)]


@dataclass
class PublishedCatalog:
    path: Path
    releases: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    withheld_releases: dict[str, list[str]] = field(default_factory=dict)  # release -> tables it lacks

    @property
    def newest_release(self) -> str | None:
        return self.releases[-1] if self.releases else None


def committed_releases(
    lake: Lake, tables: Sequence[TableSpec] = CATALOG_TABLES
) -> tuple[list[str], dict[str, list[str]]]:
    """Releases every written gating catalog table has a partition of (oldest first), and the withheld
    ones with the tables they still lack. A table never written at all (a pipeline built only up to
    raw) does not hold releases back, nor does a table written after scoring (`gates_release=False`)."""
    written = {t.path: set(lake.releases(t.layer, t.name)) for t in tables if t.partitioned and t.gates_release}
    written = {path: releases for path, releases in written.items() if releases}
    every = set().union(*written.values()) if written else set()
    withheld = {
        release: sorted(path for path, releases in written.items() if release not in releases) for release in every
    }
    withheld = {release: lacking for release, lacking in withheld.items() if lacking}
    committed = sorted(every - set(withheld), key=release_sort_key)
    return committed, dict(sorted(withheld.items(), key=lambda item: release_sort_key(item[0])))


def _empty_select(table: TableSpec) -> str:
    columns = ", ".join(f'cast(null as {duckdb_type(dtype)}) as "{name}"' for name, dtype in table.schema.items())
    return f"select {columns} where false"


def _comment(connection: duckdb.DuckDBPyConnection, view: str, text: str, columns: Iterable[tuple[str, str]]) -> None:
    connection.execute(f"comment on view {view} is {sql_string(text)}")
    for column, description in columns:
        connection.execute(f'comment on column {view}."{column}" is {sql_string(description)}')


def publish_catalog(
    lake: Lake,
    catalog_path: Path,
    *,
    registry_path: Path | None = None,
    tables: Sequence[TableSpec] = CATALOG_TABLES,
    analyst_views: Sequence[AnalystView] = ANALYST_VIEWS,
    extra_tables: dict[str, pl.DataFrame] | None = None,
    computed_tables: bool = True,
) -> PublishedCatalog:
    """Build the catalog in a temporary file, then atomically rename it to `catalog_path`.

    `extra_tables`: small tables copied into the catalog (`schema.table` -> frame) before the analyst views.
    `computed_tables`: after the analyst views, add warehouse.analytics.analyst_tables computed on this very
    catalog (Kaplan-Meier by group of the published newest release and champion; the check results under
    `<data>/reports`); a name also given in `extra_tables` keeps the given frame. Tables whose name is
    declared in warehouse.analytics get its comments.
    """
    catalog_path = Path(catalog_path)
    catalog_path.parent.mkdir(parents=True, exist_ok=True)
    with lake.commit_lock():
        _refuse_without_manifest(lake, catalog_path)
        temp_name = str(temporary_file(catalog_path))  # also removes temporaries of killed publishes
        os.unlink(temp_name)  # DuckDB wants to create the file itself
        releases, withheld = committed_releases(lake, tables)
        # The one version of every (release, table) this publish commits; views list exactly these files.
        # Tables analysts do not see (the rejects) are committed with the release too, so their superseded
        # versions are removed like every other table's.
        committed_tables = [*tables, *(t for t in UNLISTED_TABLES if t not in tables)]
        files: dict[str, dict[str, PurePath]] = {
            release: {
                table.path: path
                for table in committed_tables
                if table.partitioned
                for path in [lake.resolve(table.layer, table.name, release)]
                if path is not None
            }
            for release in releases
        }
        published = PublishedCatalog(path=catalog_path, releases=releases, withheld_releases=withheld)
        newest = releases[-1] if releases else None
        try:
            connection = duckdb.connect(temp_name)
            try:
                lake.storage.configure_duckdb(connection)  # s3:// lakes: httpfs and a temporary secret
                for table in tables:
                    _create_table_views(connection, lake, table, releases, files, published)
                _create_release_table(connection, releases, withheld)
                published.tables.append("ops.catalog_releases")
                if registry_path is not None and Path(registry_path).exists():
                    _copy_registry(connection, Path(registry_path), published)
                else:  # no model trained yet: an empty registry, so the views over it exist (and are empty)
                    ensure_registry(connection)
                    published.tables.append("registry.models")
                _comment_registry(connection)
                for name, frame in (extra_tables or {}).items():
                    _create_frame_table(connection, name, frame, published)
                available = set(published.views) | set(published.tables)
                for view in analyst_views:
                    if not set(view.sources) <= available:
                        continue
                    connection.execute(f"create schema if not exists {view.name.split('.')[0]}")
                    sql = view.sql.replace("{latest_release}", sql_string(newest) if newest else "null")
                    connection.execute(f"create view {view.name} as {sql}")
                    described = {column: text for column, text in view.columns.items()}
                    actual = [row[0] for row in connection.execute(f"describe {view.name}").fetchall()]
                    _comment(
                        connection, view.name, view.description, [(c, described[c]) for c in actual if c in described]
                    )
                    published.views.append(view.name)
                    available.add(view.name)
                if computed_tables:
                    computed = analyst_tables(connection, reports_dir=lake.data_dir / "reports")
                    for name, frame in computed.items():
                        if name not in (extra_tables or {}):
                            _create_frame_table(connection, name, frame, published)
                connection.execute("checkpoint")
            finally:
                connection.close()
            # Commit first, then show: a kill between the two leaves a committed manifest that the next publish
            # renders; the other order could show analysts a state the lake never committed.
            crash_point("catalog_built")
            lake.commit(files)
            crash_point("catalog_committed")
            catalog_object = lake.catalog_object()
            if catalog_object is not None:  # remote analysts attach this one; a PUT replaces it whole
                lake.storage.put_file(Path(temp_name), catalog_object)
            replace_durably(temp_name, catalog_path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            Path(temp_name + ".wal").unlink(missing_ok=True)
            raise
        lake.remove_superseded([(t.layer, t.name) for t in committed_tables if t.partitioned])
    return published


def _published_catalog_facts(catalog_path: Path) -> tuple[int, list[str]]:
    """(releases an existing catalog publishes, the lake files its views name); (0, []) when there is none or it
    cannot be read."""
    if not Path(catalog_path).exists():
        return 0, []
    try:
        with duckdb.connect(str(catalog_path), read_only=True) as connection:
            published = connection.execute(
                "select count(*) from ops.catalog_releases where status = 'published'"
            ).fetchone()[0]
            view_sql = [row[0] for row in connection.execute("select sql from duckdb_views()").fetchall()]
    except duckdb.Error:
        return 0, []
    paths = [path for sql in view_sql if sql for path in re.findall(r"'([^']+\.parquet)'", sql)]
    return int(published), paths


def catalog_lake_paths(catalog_path: Path) -> list[str]:
    """The lake files the published catalog's views name: what to rebuild a lost manifest from."""
    return _published_catalog_facts(catalog_path)[1]


def _refuse_without_manifest(lake: Lake, catalog_path: Path) -> None:
    """A lake committed before whose manifest is gone would publish without its releases: refuse, naming the
    repair command, instead of showing analysts an empty catalog."""
    if lake.manifest().get("generation", 0):
        return
    if lake.manifest_lost() or _published_catalog_facts(catalog_path)[0] > 0:
        raise ManifestError(
            f"{lake.manifest_path} is missing, but this lake was committed before (kept manifests in "
            f"{lake.history_dir} or releases in {catalog_path}); publishing now would hide its releases. "
            f"Rebuild the manifest with: {repair_command(lake.data_dir)}"
        )


def _comment_table(
    connection: duckdb.DuckDBPyConnection, name: str, text: str, columns: Iterable[tuple[str, str]]
) -> None:
    connection.execute(f"comment on table {name} is {sql_string(text)}")
    for column, description in columns:
        connection.execute(f'comment on column {name}."{column}" is {sql_string(description)}')


def _create_frame_table(
    connection: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, published: PublishedCatalog
) -> None:
    connection.execute(f"create schema if not exists {name.split('.')[0]}")
    connection.register("_extra_frame", frame.to_arrow())
    try:
        connection.execute(f"create table {name} as select * from _extra_frame")
    finally:
        connection.unregister("_extra_frame")
    spec = ANALYST_TABLES_BY_NAME.get(name)
    if spec is not None:
        _comment_table(
            connection,
            name,
            spec.description,
            [(column, spec.describe(column)) for column in frame.columns if column in spec.schema],
        )
    published.tables.append(name)


def _comment_registry(connection: duckdb.DuckDBPyConnection) -> None:
    """Comments on the registry copy; a column the registry gained without a description stays bare (the
    catalog tests fail on it: describe it in warehouse.views.REGISTRY_COLUMNS)."""
    columns = [
        row[0]
        for row in connection.execute(
            "select column_name from duckdb_columns() where schema_name = 'registry' and table_name = 'models'"
        ).fetchall()
    ]
    if columns:
        _comment_table(
            connection,
            "registry.models",
            REGISTRY_DESCRIPTION,
            [(c, REGISTRY_COLUMNS[c]) for c in columns if c in REGISTRY_COLUMNS],
        )


def _create_view(connection: duckdb.DuckDBPyConnection, view: str, table: TableSpec, select: str) -> None:
    """`create view view as select`, plus a typed null for every declared column its files lack: a column declared
    after a release was written (a new feature, a new score column) reads as null for that release instead of
    failing the publish. The view's columns are read from the catalog DuckDB keeps anyway (no second footer scan)."""
    connection.execute(f"create view {view} as {select}")
    schema, name = view.split(".")
    present = {
        row[0]
        for row in connection.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ?", [schema, name]
        ).fetchall()
    }
    missing = [(column, dtype) for column, dtype in table.schema.items() if column not in present]
    if missing:
        added = ", ".join(f'cast(null as {duckdb_type(dtype)}) as "{column}"' for column, dtype in missing)
        connection.execute(f"create or replace view {view} as select *, {added} from ({select})")


def _create_table_views(
    connection: duckdb.DuckDBPyConnection,
    lake: Lake,
    table: TableSpec,
    releases: list[str],
    files: dict[str, dict[str, PurePath]],
    published: PublishedCatalog,
) -> None:
    connection.execute(f"create schema if not exists {table.layer}")
    if table.partitioned:
        paths = [str(files[r][table.path]) for r in releases if table.path in files[r]]
    else:
        paths = [str(p) for p in lake.table_files(table.layer, table.name)]
    if paths:
        listed = ", ".join(sql_string(p) for p in paths)
        # Files carry their own `release` column, so hive partition parsing stays off.
        select = f"select * from read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"
    else:
        select = _empty_select(table)  # typed and empty: queries work before the first release
    _create_view(connection, table.qualified_name, table, select)
    _comment(connection, table.qualified_name, table.description, [(n, d) for n, _, d in table.columns()])
    published.views.append(table.qualified_name)
    if not table.partitioned or table.current_by_champion:
        return  # score tables' `_current` views also pick the champion model (warehouse.views)
    current = f"{table.qualified_name}_current"
    newest_file = files[releases[-1]].get(table.path) if releases else None
    if newest_file is not None:  # the newest release's file only: a lookup does not open the older releases
        select = f"select * from read_parquet([{sql_string(str(newest_file))}], hive_partitioning = false)"
    else:
        select = _empty_select(table)
    _create_view(connection, current, table, select)
    _comment(
        connection,
        current,
        f"{table.description} Newest published release only.",
        [(n, d) for n, _, d in table.columns()],
    )
    published.views.append(current)


def _create_release_table(
    connection: duckdb.DuckDBPyConnection, releases: list[str], withheld: dict[str, list[str]]
) -> None:
    connection.execute("create schema if not exists ops")
    connection.execute(
        "create table ops.catalog_releases (release varchar, status varchar, missing_tables varchar, published_at timestamptz)"
    )
    now = datetime.now(UTC)
    rows = [(r, "published", None, now) for r in releases] + [
        (r, "withheld", ", ".join(lacking), now) for r, lacking in withheld.items()
    ]
    if rows:
        connection.executemany("insert into ops.catalog_releases values (?, ?, ?, ?)", rows)
    connection.execute(
        "comment on table ops.catalog_releases is "
        + sql_string(
            "Releases this catalog publishes, and releases withheld because some of their tables are not written."
        )
    )
    for column, text in (
        ("release", "GDC data release label"),
        ("status", "published or withheld"),
        ("missing_tables", "tables a withheld release still lacks"),
        ("published_at", "when this catalog was published (UTC)"),
    ):
        connection.execute(f"comment on column ops.catalog_releases.{column} is {sql_string(text)}")


def _copy_registry(connection: duckdb.DuckDBPyConnection, registry_path: Path, published: PublishedCatalog) -> None:
    connection.execute(f"attach {sql_string(str(registry_path))} as model_registry (read_only)")
    connection.execute("create schema if not exists registry")
    # A copy, not a view: the catalog must not hold the registry file open.
    for schema_name, table_name in connection.execute(
        "select table_schema, table_name from information_schema.tables where table_catalog = 'model_registry'"
    ).fetchall():
        connection.execute(
            f"create table registry.{table_name} as select * from model_registry.{schema_name}.{table_name}"
        )
        published.tables.append(f"registry.{table_name}")
    connection.execute("detach model_registry")


def republish(data_dir: Path) -> PublishedCatalog:
    """Rebuild `<data_dir>/warehouse.duckdb` over the lake where it is now (views hold absolute paths, so a
    moved or copied data directory needs this once; the same as the `publish_catalog` Dagster job)."""
    data_dir = Path(data_dir).resolve()
    if not (data_dir / "lake").is_dir():
        raise FileNotFoundError(f"{data_dir} has no lake/ directory: not a glioma data directory")
    return publish_catalog(
        Lake(data_dir), data_dir / "warehouse.duckdb", registry_path=data_dir / "model_registry.duckdb"
    )


def rebuild_manifest(data_dir: Path) -> dict:
    """Rebuild a lost or corrupted lake manifest (lake.store.Lake.rebuild_manifest); republish after it."""
    data_dir = Path(data_dir).resolve()
    lake = Lake(data_dir)
    return lake.rebuild_manifest(catalog_lake_paths(data_dir / "warehouse.duckdb"))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m warehouse.catalog",
        description="Republish the analysts' DuckDB catalog over a data directory (e.g. after moving it).",
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--rebuild-manifest",
        action="store_true",
        help="rebuild a lost or corrupted lake/_manifest.json from its kept copies (lake/_manifests/) or from the "
        "files the published catalog names, then republish",
    )
    args = parser.parse_args(argv)
    try:
        if args.rebuild_manifest:
            manifest = rebuild_manifest(args.data_dir)
            print(
                f"manifest {manifest['rebuilt']}: generation {manifest['generation']}, "
                f"releases {', '.join(manifest['releases']) or 'none'}"
            )
        published = republish(args.data_dir)
    except (FileNotFoundError, ManifestError) as error:
        print(f"warehouse.catalog: {error}", file=sys.stderr)
        return 2
    print(
        f"published {published.path}: releases {', '.join(published.releases) or 'none'}, {len(published.views)} views"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
