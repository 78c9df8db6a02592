"""`glioma`: the analysts' command line over the DuckDB catalog (always opened read-only).

    glioma sql "select who_cns5_class, count(*) from analytics.patient_scores_current group by all"
    echo "select * from analytics.model_leaderboard" | glioma sql --csv
    glioma tables
    glioma patient TCGA-06-0125
    glioma gene EGFR         # a gene: expression by WHO class and IDH, its DE and survival rows, KM plots
    glioma report            # path of the newest release's HTML report
    glioma verify            # every committed lake file checked against its footer's content hash

The catalog is `--catalog PATH`, else `$GLIOMA_DATA_DIR/warehouse.duckdb`, else `./data/warehouse.duckdb`.
Its views name the lake's Parquet files by absolute path, so it opens from any working directory; a
refresh republishes it by atomic rename and never blocks (or is blocked by) this command.
Queries only: COPY, EXPORT, ATTACH, SET and the like are refused, and no file outside the lake is read.
Exit codes: 0 done, 1 `verify` found damaged files, 2 what was asked cannot be answered (the message says why).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import duckdb

from lake.object_store import configure_duckdb, is_object_url
from lake.store import release_sort_key
from reports.report import REPORT_FILE
from warehouse.cli_output import format_table as format_table  # re-exported: callers take it from here
from warehouse.cli_output import plain, write_result
from warehouse.gene_card import GENE_VIEWS, find_gene, gene_card, gene_data, kaplan_meier_plots
from warehouse.patient_card import EXPRESSION_SAMPLES_VIEW, HISTORY_VIEW, PATIENT_VIEW, SUBTYPES_VIEW, patient_card
from warehouse.readonly import ReadOnlyError, check_query, lake_directories, restrict
from warehouse.verify import report as verify_report
from warehouse.verify import verify_lake

CATALOG_FILE = "warehouse.duckdb"
DEFAULT_TABLE_LIMIT = 100


class CliError(Exception):
    """What was asked cannot be answered; the message says why (exit code 2)."""


def default_catalog() -> Path:
    data_dir = os.environ.get("GLIOMA_DATA_DIR")
    return Path(data_dir) / CATALOG_FILE if data_dir else Path("data") / CATALOG_FILE


def open_catalog(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog: a local file, or `s3://.../warehouse.duckdb` of an object-store
    lake (attached read-only through httpfs; the AWS_* environment names the endpoint and keys). A catalog
    whose views list `s3://` files gets the same S3 access."""
    if is_object_url(path):
        try:
            connection = duckdb.connect()
            configure_duckdb(connection)
            connection.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as warehouse (read_only)")
            connection.execute("use warehouse")
            return connection
        except (duckdb.Error, RuntimeError) as error:
            raise CliError(f"cannot open the catalog {path} read-only: {error}") from error
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise CliError(
            f"no catalog at {path}: build one with `make demo` (or point --catalog / GLIOMA_DATA_DIR at the "
            "data directory of a refreshed lake)"
        )
    try:
        connection = duckdb.connect(str(path), read_only=True)
        if connection.execute("select count(*) from duckdb_views() where sql like '%s3://%'").fetchone()[0]:
            configure_duckdb(connection)  # views over an object store: httpfs needs external access
            return connection
        return restrict(connection, lake_directories(connection))
    except (duckdb.Error, RuntimeError) as error:
        raise CliError(f"cannot open the catalog {path} read-only: {error}") from error


def _format(args: argparse.Namespace) -> str:
    return "csv" if args.csv else "json" if args.json else "table"


# --- glioma sql ------------------------------------------------------------------------------------------------


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str, limit: int | None) -> tuple[list[str], list[tuple], bool]:
    """Columns, rows (at most `limit`; None or 0 = all) and whether more rows were left out. Queries only
    (warehouse.readonly.check_query)."""
    try:
        check_query(sql)
    except ReadOnlyError as error:
        raise CliError(str(error)) from error
    try:
        result = connection.execute(sql)
        if result.description is None:
            return [], [], False
        columns = [d[0] for d in result.description]
        if limit:
            rows = result.fetchmany(limit)
            more = bool(rows) and len(rows) == limit and result.fetchone() is not None
        else:
            rows, more = result.fetchall(), False
    except duckdb.Error as error:
        hint = ""
        if "No files found" in str(error) or isinstance(error, duckdb.IOException):
            hint = (
                "\nhint: the catalog's views point at lake files that are not there; if the data directory was "
                "moved, republish it once: python -m warehouse.catalog --data-dir <data directory>"
            )
        raise CliError(f"DuckDB could not run the query: {error}\nSQL: {sql.strip()}{hint}") from error
    return columns, rows, more


def cmd_sql(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    if args.query in (None, "-") and getattr(stdin, "isatty", lambda: False)():
        sys.stderr.write("reading SQL from stdin (end with Ctrl-D)\n")
    sql = args.query if args.query not in (None, "-") else stdin.read()
    if not sql or not sql.strip():
        raise CliError("no SQL given: pass it as an argument, or on stdin (glioma sql - < query.sql)")
    fmt = _format(args)
    limit = args.limit if args.limit is not None else (DEFAULT_TABLE_LIMIT if fmt == "table" else None)
    with open_catalog(args.catalog) as connection:
        columns, rows, more = run_sql(connection, sql, limit)
    if not columns:
        if fmt == "table":
            out.write("OK (the statement returned no rows)\n")
        return 0
    write_result(columns, rows, fmt, out, max_width=args.max_width)
    if fmt == "table":
        count = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
        out.write(f"({count}; more rows not shown: --limit N, or --limit 0 for all)\n" if more else f"({count})\n")
    return 0


# --- glioma tables ---------------------------------------------------------------------------------------------

_OBJECTS_SQL = """
    select schema_name, view_name as name, 'view' as kind, comment from duckdb_views()
    where not internal and schema_name not in ('main', 'information_schema', 'pg_catalog')
    union all
    select schema_name, table_name, 'table', comment from duckdb_tables()
    where not internal and schema_name not in ('main', 'information_schema', 'pg_catalog')
    order by 1, 2
"""


def catalog_objects(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str | None]]:
    return connection.execute(_OBJECTS_SQL).fetchall()


def cmd_tables(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    with open_catalog(args.catalog) as connection:
        objects = catalog_objects(connection)
        if args.schema:
            objects = [o for o in objects if o[0] == args.schema]
            if not objects:
                schemas = sorted({o[0] for o in catalog_objects(connection)})
                raise CliError(f"no schema {args.schema!r} in the catalog; it has: {', '.join(schemas)}")
        rows = []
        for schema, name, kind, comment in objects:
            count = None
            if not args.no_counts:
                try:
                    count = connection.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
                except duckdb.Error as error:  # e.g. a lake file removed under a published view
                    count = f"error: {str(error).splitlines()[0]}"
            rows.append((schema, name, kind, count, comment))
    write_result(["schema", "name", "kind", "rows", "comment"], rows, _format(args), out, max_width=args.max_width)
    return 0


# --- glioma patient --------------------------------------------------------------------------------------------


def _require_views(connection: duckdb.DuckDBPyConnection, *names: str) -> None:
    existing = {f"{s}.{n}" for s, n, _, _ in catalog_objects(connection)}
    missing = [name for name in names if name not in existing]
    if missing:
        raise CliError(
            f"the catalog has no {', '.join(missing)} (published before the view existed, or nothing is scored "
            "yet): refresh it (make demo, or materialise warehouse/catalog)"
        )


def _records(connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    result = connection.execute(sql, params)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _find_patient(connection: duckdb.DuckDBPyConnection, asked: str) -> dict[str, Any]:
    key = asked.strip()
    rows = _records(
        connection,
        f"select * from {PATIENT_VIEW} where upper(submitter_id) = upper(?) or case_id = lower(?)",
        [key, key],
    )
    if len({row["case_id"] for row in rows}) > 1:
        # A catalog published before duplicate barcodes were quarantined: name every case instead of picking one.
        cases = ", ".join(sorted(f"{row['case_id']} ({row['project_id']})" for row in rows))
        raise CliError(
            f"barcode {asked} is ambiguous: it names {len(rows)} cases of the newest release ({cases}); "
            "ask for one by its GDC case UUID"
        )
    if rows:
        return rows[0]
    everywhere = _records(
        connection,
        "select submitter_id, release from harmonised.patients where upper(submitter_id) = upper(?) or case_id = lower(?)",
        [key, key],
    )
    newest = connection.execute(f"select max(release) from {PATIENT_VIEW}").fetchone()[0]
    if everywhere:
        seen = sorted({r["release"] for r in everywhere}, key=release_sort_key)
        raise CliError(
            f"patient {asked} is not in the newest published release ({newest or 'none'}); it was in release(s) "
            f'{", ".join(seen)} (removed since). Its scores: glioma sql "select * from {HISTORY_VIEW} where '
            f"submitter_id = '{everywhere[0]['submitter_id']}'\""
        )
    # A case GDC has but the harmonising rules rejected is in the quarantine, with the reason: say so.
    rejected = connection.execute(
        "select release, field, value, reason from harmonised.quarantine where \"table\" = 'raw/gdc_cases' "
        "and (upper(submitter_id) = ? or lower(case_id) = ?) order by release desc limit 3",
        [key.upper(), key.lower()],
    ).fetchall()
    if rejected:
        reasons = "; ".join(f"release {r[0]}: {r[3]} ({r[1]} = {r[2]})" for r in rejected)
        raise CliError(
            f"patient {asked} was rejected by the harmonising rules and is in harmonised.quarantine: {reasons}"
        )
    barcodes = [
        r[0]
        for r in connection.execute(
            "select distinct submitter_id from harmonised.patients where submitter_id is not null"
        ).fetchall()
    ]
    close = difflib.get_close_matches(key.upper(), barcodes, n=5, cutoff=0.6)
    hint = f"; close barcodes: {', '.join(close)}" if close else ""
    raise CliError(f"no patient {asked} in the catalog (barcode TCGA-xx-xxxx or GDC case UUID){hint}")


def cmd_patient(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    with open_catalog(args.catalog) as connection:
        _require_views(connection, PATIENT_VIEW, HISTORY_VIEW, "harmonised.patients")
        patient = _find_patient(connection, args.barcode)
        history = _records(
            connection,
            f"select * from {HISTORY_VIEW} where case_id = ? order by release, task, scored_at, model_version",
            [patient["case_id"]],
        )
        existing = {f"{s}.{n}" for s, n, _, _ in catalog_objects(connection)}
        expression = (
            _records(
                connection,
                f"select * from {EXPRESSION_SAMPLES_VIEW} where case_id = ? order by used desc, file_id",
                [patient["case_id"]],
            )
            if EXPRESSION_SAMPLES_VIEW in existing
            else None
        )
        subtypes = (
            _records(connection, f"select * from {SUBTYPES_VIEW} where case_id = ?", [patient["case_id"]])
            if SUBTYPES_VIEW in existing
            else []
        )
        subtype = subtypes[0] if subtypes else None
    history.sort(key=lambda h: (release_sort_key(h["release"]), h["task"], str(h["scored_at"]), h["model_version"]))
    if args.json:
        json.dump(
            {
                "patient": plain(patient),
                "history": plain(history),
                "expression_samples": plain(expression),
                "expression_subtype": plain(subtype),
            },
            out,
            indent=2,
            default=str,
            allow_nan=False,
        )
        out.write("\n")
    else:
        out.write(patient_card(patient, history, expression, subtype))
    return 0


def cmd_gene(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    with open_catalog(args.catalog) as connection:
        _require_views(connection, *GENE_VIEWS)
        gene = find_gene(connection, args.gene)
        if gene is None:
            names = (
                [
                    r[0]
                    for r in connection.execute(
                        "select distinct gene_name from analytics.survival_by_gene_current"
                    ).fetchall()
                ]
                if "analytics.survival_by_gene_current" in {f"{s}.{n}" for s, n, _, _ in catalog_objects(connection)}
                else []
            )
            close = difflib.get_close_matches(args.gene.upper(), names, n=5)
            raise CliError(
                f"no gene {args.gene!r} in the newest release's expression"
                + (f"; close names: {', '.join(close)}" if close else "")
            )
        existing = {f"{s}.{n}" for s, n, _, _ in catalog_objects(connection)}
        data = gene_data(connection, gene, existing)
    plots = [] if args.no_plot else kaplan_meier_plots(data, Path(args.plot_dir))
    if args.json:
        payload = {key: value for key, value in data.items() if key != "patients"}
        json.dump(plain({**payload, "kaplan_meier": plots}), out, indent=2, default=str)
        out.write("\n")
    else:
        out.write(gene_card(data, plots))
    return 0


# --- glioma report ---------------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    if is_object_url(args.catalog):
        raise CliError("glioma verify checks a local data directory: run it where the lake is")
    data_dir = Path(args.catalog).expanduser().resolve().parent
    if not (data_dir / "lake").is_dir():
        raise CliError(f"no lake beside the catalog {args.catalog}: point --catalog at a data directory's catalog")
    return verify_report(verify_lake(data_dir), out)


def cmd_report(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    if is_object_url(args.catalog):
        raise CliError(
            f"reports are files in the data directory, not beside {args.catalog}: run `glioma report` "
            "with --catalog <data dir>/warehouse.duckdb"
        )
    catalog = Path(args.catalog).expanduser().resolve()
    with open_catalog(catalog) as connection:
        published = [
            r[0]
            for r in connection.execute(
                "select release from ops.catalog_releases where status = 'published'"
            ).fetchall()
        ]
    published.sort(key=release_sort_key)
    if args.release is None:
        if not published:
            raise CliError(f"the catalog {catalog} publishes no release yet: nothing to report (run make demo)")
        release = published[-1]
    else:
        release = args.release
        if release not in published:
            raise CliError(
                f"release {release} is not published in {catalog}; published: {', '.join(published) or 'none'}"
            )
    report = catalog.parent / "reports" / release / REPORT_FILE
    if not report.is_file():
        raise CliError(
            f"no report for release {release} yet: {report} does not exist (the report asset writes it "
            "after the release is scored)"
        )
    out.write(f"{report}\n")
    return 0


# --- main ------------------------------------------------------------------------------------------------------


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--csv", action="store_true", help="CSV with a header row")
    group.add_argument("--json", action="store_true", help="a JSON array of objects")
    parser.add_argument(
        "--max-width",
        type=int,
        default=60,
        metavar="N",
        help="cut table cells at N characters (0 = never; table output only; default 60)",
    )


def _catalog_location(text: str) -> Path | str:
    return text if is_object_url(text) else Path(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glioma", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--catalog",
        type=_catalog_location,
        default=None,
        help="the DuckDB catalog: a file or s3://bucket/prefix/warehouse.duckdb (default "
        "$GLIOMA_DATA_DIR/warehouse.duckdb, else ./data/warehouse.duckdb)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    sql = commands.add_parser(
        "sql",
        help="run SQL against the catalog (read-only)",
        description="Run SQL against the catalog, read-only. SQL from the argument, or stdin when it is '-' or absent.",
    )
    sql.add_argument("query", nargs="?", default=None, help="the SQL ('-' or absent: read stdin)")
    sql.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help=f"at most N rows (0 = all; default {DEFAULT_TABLE_LIMIT} for the table, all for --csv/--json)",
    )
    _output_options(sql)
    sql.set_defaults(handler=cmd_sql)

    tables = commands.add_parser("tables", help="every view and table: schema, kind, row count, comment")
    tables.add_argument("schema", nargs="?", default=None, help="only this schema (e.g. analytics)")
    tables.add_argument("--no-counts", action="store_true", help="skip counting rows")
    _output_options(tables)
    tables.set_defaults(handler=cmd_tables)

    patient = commands.add_parser("patient", help="a patient card: clinical, markers, WHO class, scores, history")
    patient.add_argument("barcode", help="TCGA patient barcode (TCGA-xx-xxxx) or GDC case UUID")
    patient.add_argument("--json", action="store_true", help="the card's data as JSON")
    patient.set_defaults(handler=cmd_patient)

    gene = commands.add_parser(
        "gene", help="a gene: expression by WHO class and IDH status, differential expression, survival, KM plots"
    )
    gene.add_argument("gene", help="gene symbol (e.g. EGFR) or Ensembl id")
    gene.add_argument("--plot-dir", default=".", help="where to write the Kaplan-Meier PNGs (default: here)")
    gene.add_argument("--no-plot", action="store_true", help="print only, write no plot")
    gene.add_argument("--json", action="store_true", help="the card's data as JSON")
    gene.set_defaults(handler=cmd_gene)

    verify = commands.add_parser(
        "verify", help="check every committed lake file against the content hash in its footer; name damaged ones"
    )
    verify.set_defaults(handler=cmd_verify)

    report = commands.add_parser("report", help="path of a release's HTML report (newest by default)")
    report.add_argument("release", nargs="?", default=None, help="GDC release label, e.g. 45.0")
    report.set_defaults(handler=cmd_report)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stdin: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.catalog is None:
        args.catalog = default_catalog()
    try:
        return args.handler(args, out, inp)
    except CliError as error:
        err.write(f"glioma {args.command}: {error}\n")
        return 2
    except BrokenPipeError:  # `glioma sql ... | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
