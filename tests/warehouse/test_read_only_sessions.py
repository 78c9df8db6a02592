"""A read-only session cannot write: `glioma sql` and the documented Python connection refuse COPY, EXPORT, ATTACH,
extension loads and settings, and read no file outside the lake, while every query analysts run still works.
Each attempt runs against a private copy of the two-release world, whose committed files must stay as they were."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from lake.store import Lake
from warehouse.cli import main
from warehouse.readonly import ReadOnlyError, connect

pytestmark = pytest.mark.slow


def _glioma(catalog: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--catalog", str(catalog), *argv], stdout=out, stderr=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def world(two_release_catalog_copy):
    data_dir, _, second = two_release_catalog_copy
    committed = Path(Lake(data_dir).committed_path("scores", "grading", second))
    return data_dir / "warehouse.duckdb", committed, data_dir


def _attempts(committed: Path, data_dir: Path) -> dict[str, str]:
    return {
        "copy over a committed lake file": f"copy (select 1 as x) to '{committed}' (format parquet)",
        "copy to a new file in the lake": f"copy (select 1 as x) to '{committed.parent / 'extra.parquet'}'",
        "copy elsewhere": f"copy (select 1 as x) to '{data_dir / 'out.csv'}'",
        "export": f"export database '{data_dir / 'exported'}'",
        "attach for write": f"attach '{data_dir / 'other.duckdb'}' as other",
        "install an extension": "install httpfs",
        "change a setting": "set enable_external_access = true",
        "create a table": "create table mine as select 1",
    }


def test_glioma_sql_refuses_every_write_and_changes_no_file(world):
    catalog, committed, data_dir = world
    before = _digest(committed)
    for what, sql in _attempts(committed, data_dir).items():
        code, _, err = _glioma(catalog, "sql", sql)
        assert code != 0, f"{what} was run"
        assert "read-only" in err, f"{what}: {err}"
    assert _digest(committed) == before
    assert not (committed.parent / "extra.parquet").exists() and not (data_dir / "out.csv").exists()
    assert not (data_dir / "exported").exists() and not (data_dir / "other.duckdb").exists()


def test_glioma_sql_reads_no_file_outside_the_lake(world):
    catalog, _, data_dir = world
    (data_dir / "secret.csv").write_text("a,b\n1,2\n")
    for path in ("/etc/passwd", data_dir / "secret.csv"):
        code, _, err = _glioma(catalog, "sql", f"select * from read_csv('{path}')")
        assert code != 0 and "disabled by configuration" in err, err


def test_the_python_connection_refuses_writes_and_foreign_files_but_answers_queries(world):
    catalog, committed, data_dir = world
    before = _digest(committed)
    with connect(catalog) as connection:
        for sql in _attempts(committed, data_dir).values():
            with pytest.raises(ReadOnlyError, match="read-only"):
                connection.execute(sql)
        with pytest.raises(Exception, match="disabled by configuration"):
            connection.execute("select * from read_csv('/etc/passwd')")
        assert connection.execute("select count(*) from scores.grading").fetchone()[0] > 0
        assert connection.sql("select count(*) from analytics.patient_overview").fetchone()[0] > 0
    assert _digest(committed) == before


def test_queries_analysts_run_still_work_through_the_cli(world):
    catalog, _, _ = world
    for sql in (
        "select release, count(*) from harmonised.patients group by all order by 1",
        "from scores.grading_current limit 1",
        "describe scores.grading",
        "show tables",
        "summarize harmonised.patients_current",
        "explain select * from harmonised.patients",
    ):
        code, out, err = _glioma(catalog, "sql", sql)
        assert code == 0, f"{sql}: {err}"
        assert out.strip()
