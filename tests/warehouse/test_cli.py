"""The `glioma` command line (warehouse/cli.py) against a real catalog.

One catalog for the module, built by the real jobs (`refresh_gdc_release`, then `train_challengers`) for both
releases of the small synthetic two-release root served by the GDC stand-in over HTTP. Most commands run
in-process (`main(argv, stdout=..., stderr=...)`); the working-directory and console-script tests run a real
subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from warehouse.cli import format_table, main

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(two_release_catalog):
    data_dir, first, second = two_release_catalog
    return data_dir / "warehouse.duckdb", first, second


@pytest.fixture(scope="module")
def catalog_path(built) -> Path:
    return built[0]


@pytest.fixture(scope="module")
def db(catalog_path):
    with duckdb.connect(str(catalog_path), read_only=True) as connection:
        yield connection


def glioma(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def on(catalog_path: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    return glioma("--catalog", str(catalog_path), *argv, stdin=stdin)


# --- glioma sql ---------------------------------------------------------------------------------------------------

COHORT_SQL = "select release, project_id, patients, pct_idh_mutant from analytics.cohort_summary order by all"


def test_sql_prints_an_aligned_table_with_the_row_count(catalog_path, db):
    code, out, err = on(catalog_path, "sql", COHORT_SQL)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["release", "project_id", "patients", "pct_idh_mutant"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    expected = db.execute(COHORT_SQL).fetchall()
    assert lines[-1] == f"({len(expected)} rows)"
    body = lines[2:-1]
    assert [line.split() for line in body] == [[r, p, str(n), f"{pct:.6g}"] for r, p, n, pct in expected]
    # aligned: the numbers end where their header ends (right-aligned), in every line
    end = lines[0].index("patients") + len("patients")
    assert [line[:end].split()[-1] for line in body] == [str(n) for _, _, n, _ in expected]
    assert all(line[end] == " " for line in body)


def test_sql_csv_and_json_parse_back_to_the_query_result(catalog_path, db):
    sql = (
        "select case_id, grade_probability_gbm, prediction_set, in_training_set, scored_at "
        "from scores.grading_current order by case_id"
    )
    expected = db.execute(sql).fetchall()
    code, out, _ = on(catalog_path, "sql", "--csv", sql)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(expected) > 100  # no default limit for --csv
    for row, (case_id, p, prediction_set, in_training, scored_at) in zip(rows, expected, strict=True):
        assert row["case_id"] == case_id
        assert float(row["grade_probability_gbm"]) == p and row["prediction_set"] == prediction_set
        assert row["in_training_set"] == ("true" if in_training else "false")
        assert row["scored_at"] == scored_at.isoformat()

    code, out, _ = on(catalog_path, "sql", "--json", sql)
    assert code == 0
    records = json.loads(out)
    assert [r["case_id"] for r in records] == [e[0] for e in expected]
    assert [r["grade_probability_gbm"] for r in records] == [e[1] for e in expected]
    assert all(isinstance(r["in_training_set"], bool) for r in records)


def test_sql_reads_stdin_when_the_argument_is_a_dash_or_absent(catalog_path):
    for argv in (("sql", "-"), ("sql",)):
        code, out, _ = on(catalog_path, *argv, "--json", stdin="select 41 + 1 as answer")
        assert code == 0 and json.loads(out) == [{"answer": 42}]


def test_sql_limit_cuts_the_table_and_says_so(catalog_path):
    code, out, _ = on(catalog_path, "sql", "--limit", "3", "select * from analytics.score_history")
    assert code == 0
    assert len(out.splitlines()) == 2 + 3 + 1 and "more rows not shown" in out.splitlines()[-1]
    code, out, _ = on(catalog_path, "sql", "--json", "--limit", "2", "select * from analytics.score_history")
    assert len(json.loads(out)) == 2
    code, out, _ = on(catalog_path, "sql", "select count(*) as n from analytics.score_history")
    assert out.splitlines()[-1] == "(1 row)"


def test_bad_sql_exits_2_with_duckdbs_message_and_the_sql(catalog_path):
    sql = "select no_such_column from analytics.patient_scores_current"
    code, out, err = on(catalog_path, "sql", sql)
    assert code == 2 and out == ""
    assert 'Referenced column "no_such_column" not found' in err and f"SQL: {sql}" in err
    code, _, err = on(catalog_path, "sql", "create table analytics.mine as select 1")
    assert code == 2 and "read-only" in err.lower()
    code, _, err = on(catalog_path, "sql", "   ")
    assert code == 2 and "no SQL given" in err


def test_a_missing_catalog_exits_2_naming_it_and_saying_run_make_demo(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    for argv in (("sql", "select 1"), ("tables",), ("patient", "TCGA-02-0001"), ("report",)):
        code, out, err = glioma("--catalog", str(missing), *argv)
        assert code == 2 and out == "", argv
        assert str(missing) in err and "make demo" in err, argv
    # the default: $GLIOMA_DATA_DIR/warehouse.duckdb, else ./data/warehouse.duckdb
    monkeypatch.setenv("GLIOMA_DATA_DIR", str(tmp_path / "env_data"))
    assert str(tmp_path / "env_data" / "warehouse.duckdb") in glioma("tables")[2]
    monkeypatch.delenv("GLIOMA_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert str(tmp_path / "data" / "warehouse.duckdb") in glioma("tables")[2]


def test_the_default_catalog_is_the_one_in_glioma_data_dir(catalog_path, monkeypatch, tmp_path):
    monkeypatch.setenv("GLIOMA_DATA_DIR", str(catalog_path.parent))
    monkeypatch.chdir(tmp_path)
    code, out, _ = glioma("sql", "--csv", "select count(*) as n from ops.catalog_releases")
    assert code == 0 and out.splitlines() == ["n", "2"]


def test_glioma_sql_runs_from_another_working_directory(catalog_path, tmp_path):
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("GLIOMA_DATA_DIR", None)
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "warehouse.cli",
            "--catalog",
            str(catalog_path),
            "sql",
            "--csv",
            "select count(*) as patients from analytics.patient_scores_current",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(catalog_path), read_only=True) as connection:
        (patients,) = connection.execute("select count(*) from harmonised.patients_current").fetchone()
    assert result.stdout.splitlines() == ["patients", str(patients)]
    assert time.monotonic() - started < 60


def test_the_glioma_console_script_is_installed_and_works(catalog_path, tmp_path):
    script = shutil.which("glioma", path=str(Path(sys.executable).parent)) or shutil.which("glioma")
    if script is None:
        pytest.skip("the glioma console script is not installed (pip install -e . --no-deps)")
    result = subprocess.run(
        [script, "--catalog", str(catalog_path), "tables", "--no-counts", "analytics"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "patient_scores_current" in result.stdout and "model_leaderboard" in result.stdout


# --- glioma tables ------------------------------------------------------------------------------------------------


def test_tables_lists_every_view_and_table_with_kind_rows_and_comment(catalog_path, db):
    code, out, _ = on(catalog_path, "tables", "--json")
    assert code == 0
    listed = {f"{r['schema']}.{r['name']}": r for r in json.loads(out)}
    objects = db.execute(
        "select schema_name || '.' || view_name, 'view', comment from duckdb_views() where not internal "
        "and schema_name <> 'main' union all "
        "select schema_name || '.' || table_name, 'table', comment from duckdb_tables() where not internal"
    ).fetchall()
    assert set(listed) == {name for name, _, _ in objects}
    for name, kind, comment in objects:
        assert listed[name]["kind"] == kind and listed[name]["comment"] == comment and comment, name
        assert listed[name]["rows"] == db.execute(f"select count(*) from {name}").fetchone()[0], name
    assert (
        listed["analytics.survival_by_group"]["kind"] == "table" and listed["analytics.survival_by_group"]["rows"] > 0
    )

    code, out, _ = on(catalog_path, "tables", "analytics")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["schema", "name", "kind", "rows", "comment"]
    assert {line.split()[0] for line in lines[2:]} == {"analytics"}
    code, _, err = on(catalog_path, "tables", "nonsense")
    assert code == 2 and "no schema 'nonsense'" in err and "analytics" in err


# --- glioma patient -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def patient(db) -> dict:
    result = db.execute(
        "select * from analytics.patient_scores_current where grading_model_version is not null "
        "and survival_model_version is not null order by submitter_id limit 1"
    )
    columns = [d[0] for d in result.description]
    return dict(zip(columns, result.fetchone(), strict=True))


def test_patient_card_shows_clinical_markers_who_class_both_scores_and_history(catalog_path, db, patient):
    code, out, err = on(catalog_path, "patient", patient["submitter_id"])
    assert code == 0 and err == ""
    assert out.startswith(f"Patient {patient['submitter_id']}  (GDC case {patient['case_id']})")
    for heading in (
        "Clinical",
        "Molecular markers",
        "WHO CNS5 2021",
        "Grading (champion models, newest release)",
        "Survival risk (champion model, newest release)",
        "Score history (analytics.score_history)",
    ):
        assert f"\n{heading}\n" in out, heading
    expected_bits = [
        patient["who_cns5_class"],
        f"{patient['grade_probability_gbm']:.3f} -> {patient['predicted_class']}",
        "{" + ", ".join(patient["prediction_set"].split("|")) + "}",
        f"{patient['survival_risk_score']:.3f}",
        patient["risk_group"],
        patient["grading_explanation"],
        patient["grade_explanation"],
        patient["survival_explanation"],
        patient["grading_model_version"],
        patient["grade_model_version"],
        patient["survival_model_version"],
        "in-sample score, not a prediction" if patient["survival_in_training_set"] else "a genuine prediction",
        "MGMT / TMZ",
    ]
    for bit in expected_bits:
        assert bit in out, bit
    history = db.execute(
        "select release, model_version from analytics.score_history where case_id = ?", [patient["case_id"]]
    ).fetchall()
    assert len(history) >= 4  # both releases, both tasks (and the retired models' rows of the newest release)
    history_block = out.split("Score history (analytics.score_history)\n", 1)[1].splitlines()[2:]
    assert len(history_block) == len(history)
    assert {(line.split()[0], line.split()[2]) for line in history_block} == set(history)
    assert sum("*" in line.split() for line in history_block) == 2  # the two current rows


def test_patient_accepts_a_lowercase_barcode_or_the_case_uuid_and_has_json(catalog_path, patient):
    assert on(catalog_path, "patient", patient["submitter_id"].lower())[0] == 0
    code, out, _ = on(catalog_path, "patient", patient["case_id"], "--json")
    assert code == 0
    card = json.loads(out)
    assert card["patient"]["submitter_id"] == patient["submitter_id"]
    assert card["patient"]["grade_probability_gbm"] == patient["grade_probability_gbm"]
    assert {h["task"] for h in card["history"]} == {"grading_gbm_vs_lgg", "survival_risk"}


def test_an_unknown_barcode_exits_2_naming_it_and_suggesting_close_barcodes(catalog_path, patient):
    real = patient["submitter_id"]
    typo = real[:-1] + ("X" if real[-1] != "X" else "Y")
    code, out, err = on(catalog_path, "patient", typo)
    assert code == 2 and out == ""
    assert f"no patient {typo}" in err and "close barcodes" in err and real in err


def test_a_patient_removed_in_the_newest_release_is_named_with_the_release_it_was_in(catalog_path, db, built):
    _, first, newest = built
    removed = db.execute(
        "select submitter_id from harmonised.patients where release = ? except "
        "select submitter_id from harmonised.patients where release = ?",
        [first, newest],
    ).fetchall()
    if not removed:
        pytest.skip("the synthetic newest release removed no patient")
    code, _, err = on(catalog_path, "patient", removed[0][0])
    assert code == 2
    assert f"not in the newest published release ({newest})" in err and first in err
    assert "analytics.score_history" in err


# --- glioma report ------------------------------------------------------------------------------------------------


def test_report_prints_the_newest_release_report_path_or_says_it_does_not_exist_yet(catalog_path, built, tmp_path):
    _, first, newest = built
    # a copy of the catalog in a directory of its own: the reports beside it are this test's
    shutil.copy(catalog_path, tmp_path / "warehouse.duckdb")
    copy = tmp_path / "warehouse.duckdb"
    code, out, err = on(copy, "report")
    assert code == 2 and out == ""
    report = tmp_path / "reports" / newest / "index.html"
    assert f"no report for release {newest} yet" in err and str(report) in err

    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    assert on(copy, "report") == (0, f"{report}\n", "")
    code, _, err = on(copy, "report", first)
    assert code == 2 and f"no report for release {first} yet" in err
    code, _, err = on(copy, "report", "12.0")
    assert code == 2 and "release 12.0 is not published" in err and newest in err


# --- formatting -------------------------------------------------------------------------------------------------


def test_format_table_aligns_right_for_numbers_shows_null_and_cuts_long_cells():
    text = format_table(["name", "n", "note"], [("a", 1, None), ("bbb", 22.5, "x" * 80)], max_width=10)
    lines = text.splitlines()
    assert lines[0] == "name     n  note"
    assert lines[2] == "a        1  NULL"
    assert lines[3] == "bbb   22.5  xxxxxxxxx…"
    assert max(len(line) for line in lines) == len(lines[3])
