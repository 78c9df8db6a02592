"""`glioma`: the analysts' command line over the DuckDB catalog (always opened read-only).

    glioma sql "select who_cns5_class, count(*) from analytics.patient_scores_current group by all"
    echo "select * from analytics.model_leaderboard" | glioma sql --csv
    glioma tables
    glioma patient TCGA-06-0125
    glioma report            # path of the newest release's HTML report

The catalog is `--catalog PATH`, else `$GLIOMA_DATA_DIR/warehouse.duckdb`, else `./data/warehouse.duckdb`.
Its views name the lake's Parquet files by absolute path, so it opens from any working directory; a
refresh republishes it by atomic rename and never blocks (or is blocked by) this command.
Exit codes: 0 done, 2 what was asked cannot be answered (the message says why).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import duckdb

from lake.object_store import configure_duckdb, is_object_url
from lake.store import release_sort_key
from reports.report import REPORT_FILE

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
            configure_duckdb(connection)
        return connection
    except (duckdb.Error, RuntimeError) as error:
        raise CliError(f"cannot open the catalog {path} read-only: {error}") from error


# --- output ----------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _cell(value: Any, max_width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = "NaN" if math.isnan(value) else f"{value:.6g}"
    elif isinstance(value, (datetime, date)):
        text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(_plain(value), default=str)
    else:
        text = str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    if max_width and len(text) > max_width:
        text = text[: max(max_width - 1, 1)] + "…"
    return text


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, list, tuple, dict)):
        return _cell(value, 0)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """An aligned plain-text table: numbers right-aligned, NULL for missing, long cells cut at max_width."""
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]
    right = [_numeric([row[i] for row in rows]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def write_result(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, out: TextIO, *, max_width: int = 60
) -> None:
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(v) for v in row])
    elif fmt == "json":
        records = [{name: _plain(value) for name, value in zip(columns, row, strict=True)} for row in rows]
        json.dump(records, out, indent=2, default=str, allow_nan=False)
        out.write("\n")
    else:
        out.write(format_table(columns, rows, max_width=max_width) + "\n")


def _format(args: argparse.Namespace) -> str:
    return "csv" if args.csv else "json" if args.json else "table"


# --- glioma sql ------------------------------------------------------------------------------------------------


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str, limit: int | None) -> tuple[list[str], list[tuple], bool]:
    """Columns, rows (at most `limit`; None or 0 = all) and whether more rows were left out."""
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

PATIENT_VIEW = "analytics.patient_scores_current"
HISTORY_VIEW = "analytics.score_history"


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


def _yes_no(value: Any, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    return unknown if value is None else yes if value else no


def _number(value: Any, digits: int = 3) -> str:
    return "unknown" if value is None else f"{value:.{digits}f}"


def _set(value: Any) -> str:
    if value is None:
        return "unknown"
    return "{" + ", ".join(value.split("|")) + "}" if value else "{} (empty)"


def _training_flag(value: Any) -> str:
    if value is None:
        return "unknown (model stored before training rows were recorded)"
    return "yes — in-sample score, not a prediction" if value else "no — a genuine prediction"


def patient_card(patient: dict[str, Any], history: list[dict[str, Any]]) -> str:
    p = patient
    lines: list[str] = []

    def section(title: str) -> None:
        lines.extend(["", title])

    def item(label: str, value: Any) -> None:
        lines.append(f"  {label:<26}{value}")

    lines.append(f"Patient {p['submitter_id']}  (GDC case {p['case_id']})")
    lines.append(f"  project {p['project_id']}, newest published release {p['release']}")
    section("Clinical")
    item(
        "age at diagnosis",
        "unknown" if p["age_at_diagnosis_years"] is None else f"{p['age_at_diagnosis_years']:.1f} years",
    )
    item("sex", p["sex"] or "unknown")
    item("primary diagnosis", p["primary_diagnosis"] or "unknown")
    item("histology family", p["histology_family"] or "unknown")
    item("WHO grade (recorded)", p["who_grade"] if p["who_grade"] is not None else "unknown")
    item("Karnofsky score", p["karnofsky_score"] if p["karnofsky_score"] is not None else "unknown")
    item(
        "radiation / TMZ / chemo",
        " / ".join(
            _yes_no(p[c], unknown="not recorded")
            for c in ("received_radiation", "received_temozolomide", "received_chemotherapy")
        ),
    )
    survival = (
        "unknown"
        if p["overall_survival_days"] is None
        else (
            f"{p['overall_survival_days']:.0f} days, "
            + (
                "died"
                if p["death_observed"]
                else "censored (alive at last follow-up)"
                if p["death_observed"] is not None
                else "event unknown"
            )
        )
    )
    item("vital status", p["vital_status"] or "unknown")
    item("overall survival", survival)

    section("Molecular markers")
    idh = p["idh_status"] or "not profiled"
    item("IDH", f"{idh} ({p['idh_hotspot']})" if p["idh_hotspot"] else idh)
    item("1p/19q codeletion", _yes_no(p["codeletion_1p19q"], unknown="not profiled"))
    item(
        "ATRX / TP53 / TERT", " / ".join(p[c] or "not profiled" for c in ("atrx_status", "tp53_status", "tert_status"))
    )
    item("7+/10-", _yes_no(p["chr7_gain_chr10_loss"], unknown="not profiled"))
    item("EGFR amplified", _yes_no(p["egfr_amplified"], unknown="not profiled"))
    item("CDKN2A/B homozygous del.", _yes_no(p["cdkn2a_homozygous_deletion"], unknown="not profiled"))
    mgmt = _yes_no(p["mgmt_promoter_methylated"], "methylated", "unmethylated", "unknown")
    if p["mgmt_stp27_probability"] is not None:
        mgmt += f" (STP27 probability {p['mgmt_stp27_probability']:.2f}"
        mgmt += f", source {p['mgmt_source']})" if p["mgmt_source"] else ")"
    elif p["mgmt_source"]:
        mgmt += f" (source {p['mgmt_source']})"
    item("MGMT promoter", mgmt)

    section("WHO CNS5 2021")
    item("integrated class", p["who_cns5_class"] or "unknown")
    item("CNS WHO grade", p["who_cns5_grade"] if p["who_cns5_grade"] is not None else "unknown")
    if p["who_cns5_basis"]:
        item("basis", p["who_cns5_basis"])
    if p["not_classifiable_reason"]:
        item("not classifiable because", p["not_classifiable_reason"])
    item(
        "MGMT / TMZ",
        {
            True: "MGMT methylated: temozolomide benefit expected",
            False: "MGMT unmethylated: little temozolomide benefit expected",
            None: "unknown (no MGMT call)",
        }[p["tmz_relevant"]],
    )

    section("Grading (champion models, newest release)")
    if p["grading_model_version"] is None:
        lines.append("  not scored yet (no champion grading model has scored this release)")
    else:
        item("P(GBM)", f"{_number(p['grade_probability_gbm'])} -> {p['predicted_class']}")
        coverage = p["conformal_coverage"]
        at = f" at {coverage:.0%} coverage" if coverage is not None else ""
        item("prediction set", f"{_set(p['prediction_set'])}{at}")
        item("why", p["grading_explanation"] or "")
        item("model", p["grading_model_version"])
        item("in training set", _training_flag(p["grading_in_training_set"]))
        grades = ", ".join(
            f"{g}: {_number(p.get(f'grade_probability_{g}'), 2)}" for g in (2, 3, 4) if f"grade_probability_{g}" in p
        )
        item(
            "WHO grade predicted",
            f"{p['predicted_who_grade'] if p['predicted_who_grade'] is not None else 'unknown'} (P {grades})",
        )
        item("grade prediction set", f"{_set(p['grade_prediction_set'])}{at}")
        item("why", p["grade_explanation"] or "")
        item("grade model", p["grade_model_version"] or "none")
        item("in training set", _training_flag(p["grade_in_training_set"]))

    section("Survival risk (champion model, newest release)")
    if p["survival_model_version"] is None:
        lines.append("  not scored yet (no champion survival model has scored this release)")
    else:
        item("risk score", f"{_number(p['survival_risk_score'])} (log relative hazard; higher = worse)")
        item("risk group", p["risk_group"] or "unknown")
        horizons = [c for c in p if c.startswith("survival_probability_")]
        item(
            "survival probability",
            ", ".join(f"{c.removeprefix('survival_probability_')}: {_number(p[c], 2)}" for c in horizons),
        )
        item("why", p["survival_explanation"] or "")
        item("model", p["survival_model_version"])
        item("in training set", _training_flag(p["survival_in_training_set"]))

    section(f"Score history ({HISTORY_VIEW})")
    if not history:
        lines.append("  no scores yet")
    else:
        columns = ["release", "task", "model_version", "model_status", "current", "score", "in_training_set"]
        rows = []
        for h in history:
            if h["task"] == "survival_risk":
                score = f"risk {_number(h['survival_risk_score'])} ({h['risk_group']})"
            else:
                score = f"P(GBM) {_number(h['grade_probability_gbm'])} {h['predicted_class']}, grade {h['predicted_who_grade']}"
            rows.append(
                (
                    h["release"],
                    h["task"],
                    h["model_version"],
                    h["model_status"],
                    "*" if h["is_current"] else "",
                    score,
                    h["in_training_set"],
                )
            )
        lines.extend("  " + line for line in format_table(columns, rows, max_width=0).splitlines())
    return "\n".join(lines) + "\n"


def cmd_patient(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    with open_catalog(args.catalog) as connection:
        _require_views(connection, PATIENT_VIEW, HISTORY_VIEW, "harmonised.patients")
        patient = _find_patient(connection, args.barcode)
        history = _records(
            connection,
            f"select * from {HISTORY_VIEW} where case_id = ? order by release, task, scored_at, model_version",
            [patient["case_id"]],
        )
    history.sort(key=lambda h: (release_sort_key(h["release"]), h["task"], str(h["scored_at"]), h["model_version"]))
    if args.json:
        json.dump({"patient": _plain(patient), "history": _plain(history)}, out, indent=2, default=str, allow_nan=False)
        out.write("\n")
    else:
        out.write(patient_card(patient, history))
    return 0


# --- glioma report ---------------------------------------------------------------------------------------------


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
