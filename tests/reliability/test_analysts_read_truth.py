"""What analysts read is always true, scenario by scenario on a copy of the published 45.0 world: a release with values
no patient can have, text no table can hold and a barcode shared by two cases publishes with those cases
quarantined; a truncated committed file of an older release is named and withheld while the new release is
published; a lost or corrupted manifest is refused and repaired; a read-only session cannot write; a permanent
GDC error on /data fails at once; a clean refresh publishes exactly what another clean refresh publishes."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import duckdb
import pytest
from reliability_state import FULL_ONLY, REFRESH, leftovers, published_state, run_refresh
from test_api_schema_changes import _changed_root

from lake.store import Lake
from sandbox.gdc_standin import GdcStandIn
from transforms import patients as P
from transforms import survival as surv
from warehouse import catalog as catalog_cli
from warehouse.cli import main as glioma

pytestmark = pytest.mark.slow
FAIL_FAST_SECONDS = 60


def _cli(function, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = function(list(argv))
    return code, out.getvalue(), err.getvalue()


def _glioma(data: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = glioma(["--catalog", str(data / "warehouse.duckdb"), *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _quarantine(data: Path, release: str) -> dict[str, str]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select submitter_id, reason from harmonised.quarantine where release = ? and \"table\" = 'raw/gdc_cases'",
            [release],
        ).fetchall()
    return dict(rows)


def _bad_values(cases: list[dict]) -> list[dict]:
    """Three cases GDC should never send: a death day of 1e12, a lone surrogate, and a barcode used twice (the
    fourth case takes the third's barcode). Returns the four cases changed."""
    usable = sorted(
        (c for c in cases if isinstance(c.get("demographic"), dict) and c.get("diagnoses")),
        key=lambda case: case["submitter_id"],
    )[:4]
    usable[0]["demographic"]["days_to_death"] = 1e12
    usable[0]["demographic"]["vital_status"] = "Dead"
    usable[1]["diagnoses"][0]["primary_diagnosis"] = "Glio\ud800blastoma"
    usable[3]["submitter_id"] = usable[2]["submitter_id"]
    return usable


@FULL_ONLY
def test_a_release_with_impossible_values_publishes_with_those_cases_quarantined(world, tmp_path):
    source = world.server.bundle_root / "releases" / world.second
    root = _changed_root(source, tmp_path / "root", world.second, lambda case: None)
    cases_file = root / "releases" / world.second / "cases.jsonl"
    cases = [json.loads(line) for line in cases_file.read_text().splitlines() if line]
    changed = _bad_values(cases)
    cases_file.write_text("".join(json.dumps(case) + "\n" for case in cases))
    data, home = world.copy(tmp_path / "world")
    with GdcStandIn(root, port=0) as server:
        code, output = run_refresh(server.base_url, data, home, world.second, REFRESH)
    assert code == 0, output[-4000:]
    state = published_state(data)
    assert state.releases == (world.first, world.second)
    reasons = _quarantine(data, world.second)
    assert reasons[changed[0]["submitter_id"]] == surv.SURVIVAL_TIME_OUT_OF_RANGE
    assert reasons[changed[1]["submitter_id"]] == P.UNENCODABLE_TEXT
    assert reasons[changed[2]["submitter_id"]] == P.DUPLICATE_SUBMITTER_ID
    assert (data / "reports" / world.second / "index.html").exists(), "the report after the publish was written"
    assert _glioma(data, "verify")[0] == 0
    assert leftovers(data) == []


@FULL_ONLY
def test_a_truncated_older_file_is_named_and_withheld_while_the_new_release_publishes(world, tmp_path):
    data, home = world.copy(tmp_path)
    damaged = Path(Lake(data).committed_path("harmonised", "patients", world.first))
    damaged.write_bytes(damaged.read_bytes()[:200])
    code, out, _ = _glioma(data, "verify")
    assert code == 1 and f"DAMAGED harmonised/patients release {world.first}: {damaged}" in out

    code, output = run_refresh(world.base_url, data, home, world.second, REFRESH)
    assert code == 0, output[-4000:]
    state = published_state(data)
    assert state.releases == (world.second,), "the damaged release is withheld, the new one published"
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as connection:
        withheld = connection.execute(
            "select missing_tables from ops.catalog_releases where release = ? and status = 'withheld'", [world.first]
        ).fetchone()
    assert withheld is not None and "harmonised/patients" in withheld[0]


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_lost_or_corrupted_manifest_is_refused_then_repaired_to_what_was_published(world, tmp_path, damage):
    data, _ = world.copy(tmp_path)
    manifest = data / "lake" / "_manifest.json"
    if damage == "deleted":
        manifest.unlink()
    else:
        manifest.write_text('{"generation": 3, "releases": {"45.0": ')
    code, _, err = _cli(catalog_cli.main, "--data-dir", str(data))
    assert code == 2 and "--rebuild-manifest" in err
    assert published_state(data) == world.baseline, "the refused publish changed nothing"
    code, _, err = _cli(catalog_cli.main, "--data-dir", str(data), "--rebuild-manifest")
    assert code == 0, err
    assert published_state(data) == world.baseline


def test_a_read_only_session_cannot_overwrite_a_committed_file_or_read_others(world, tmp_path):
    data, _ = world.copy(tmp_path)
    committed = Path(Lake(data).committed_path("scores", "grading", world.first))
    before = committed.read_bytes()
    code, _, err = _glioma(data, "sql", f"copy (select 1 as x) to '{committed}' (format parquet)")
    assert code == 2 and "read-only" in err
    code, _, err = _glioma(data, "sql", "select * from read_csv('/etc/passwd')")
    assert code == 2 and "disabled by configuration" in err
    assert committed.read_bytes() == before
    assert published_state(data) == world.baseline


def test_a_permanent_error_on_data_fails_the_refresh_at_once_and_changes_nothing(world, tmp_path):
    data, home = world.copy(tmp_path)
    with GdcStandIn(world.server.bundle_root, port=0) as server:
        server.set_release(world.second)
        server.faults.inject("http_500", endpoint="/data", times=None)
        started = time.monotonic()
        code, output = run_refresh(server.base_url, data, home, world.second, REFRESH)
        seconds = time.monotonic() - started
    assert code != 0, output[-2000:]
    assert seconds < FAIL_FAST_SECONDS, f"a permanent 500 on /data took {seconds:.0f}s to fail"
    assert published_state(data) == world.baseline
