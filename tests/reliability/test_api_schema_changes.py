"""GDC changes its answers between releases without notice (GDC_API_FACTS.md sections 5 and 7): a field
appears, a field is removed from the API (`demographic.gender`, API 8.5.0), a value arrives with another
JSON type. A refresh over such a release gives analysts exactly what the unchanged release gives — new
fields are kept in the raw document and ignored, a removed field's successor is used, numbers sent as text
are read as numbers — and a field whose type became an object drops out of `fields=` answers, so its cases
are quarantined naming case and field, never a crash and never a guess."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from reliability_state import FULL_ONLY, REFRESH, published_state, run_refresh

from sandbox.gdc_standin import GdcStandIn
from transforms.survival import DEAD_WITHOUT_DEATH_DAY

pytestmark = pytest.mark.slow

UNCHANGED = (
    "harmonised.patients",
    "harmonised.molecular_markers",
    "features.model_matrix",
    "scores.grading",
    "scores.survival_risk",
)


def _add_fields(case: dict) -> None:
    case["tissue_source_site_2027"] = {"code": "06", "name": "new site block"}
    (case.get("demographic") or {})["country_of_residence_at_enrollment"] = "United States"
    for diagnosis in case.get("diagnoses") or []:
        diagnosis["new_staging_system"] = None


def _remove_gender(case: dict) -> None:
    (case.get("demographic") or {}).pop("gender", None)


def _numbers_as_text(case: dict) -> None:
    demographic = case.get("demographic") or {}
    for field in ("days_to_death", "age_at_index", "days_to_birth"):
        if isinstance(demographic.get(field), (int, float)):
            demographic[field] = str(demographic[field])


CHANGES: dict[str, Callable[[dict], None]] = {
    "new_fields": _add_fields,
    "removed_field": _remove_gender,
    "numbers_as_text": _numbers_as_text,
}


def _changed_root(source_release: Path, target: Path, label: str, change: Callable[[dict], None]) -> Path:
    release_dir = target / "releases" / label
    shutil.copytree(source_release, release_dir)
    (target / "CURRENT").write_text(label + "\n")
    cases = [json.loads(line) for line in (release_dir / "cases.jsonl").read_text().splitlines() if line]
    for case in cases:
        change(case)
    (release_dir / "cases.jsonl").write_text("".join(json.dumps(case) + "\n" for case in cases))
    return target


@pytest.mark.parametrize("change", [pytest.param(c, marks=FULL_ONLY) for c in sorted(CHANGES)])
def test_a_changed_gdc_answer_publishes_what_the_unchanged_one_does(world, tmp_path, change):
    source = world.server.bundle_root / "releases" / world.second
    root = _changed_root(source, tmp_path / "root", world.second, CHANGES[change])
    data, home = world.copy(tmp_path / "world")
    with GdcStandIn(root, port=0) as server:
        code, output = run_refresh(server.base_url, data, home, world.second, REFRESH)
    assert code == 0, output[-4000:]
    state = published_state(data)
    for relation in UNCHANGED:
        assert state.rows[relation] == world.reference.rows[relation], "\n".join(
            line for line in state.differences(world.reference)
        )


def test_a_death_day_that_became_an_object_is_missing_from_the_answer_and_its_cases_quarantined(world, tmp_path):
    def death_day_as_object(case: dict) -> None:
        demographic = case.get("demographic") or {}
        if demographic.get("days_to_death") is not None:
            demographic["days_to_death"] = {"value": demographic["days_to_death"], "unit": "days"}

    source = world.server.bundle_root / "releases" / world.second
    root = _changed_root(source, tmp_path / "root", world.second, death_day_as_object)
    changed = sum(
        1
        for line in (root / "releases" / world.second / "cases.jsonl").read_text().splitlines()
        if '"unit": "days"' in line
    )
    data, home = world.copy(tmp_path / "world")
    with GdcStandIn(root, port=0) as server:
        code, output = run_refresh(server.base_url, data, home, world.second, REFRESH)
    assert code == 0, output[-4000:]
    # The raw layer asks GDC for `demographic.days_to_death` with `fields=`; a path that now names an object is
    # not a leaf any more and, as GDC's projection does, the answer simply leaves it out (GDC_API_FACTS.md 7.13).
    # So each such dead patient has no death day: quarantined by name, nothing guessed, nothing crashes.
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as connection:
        rejected = connection.execute(
            "select count(distinct case_id), count(*) filter (where detail not like 'case % (%), release %: "
            "demographic.days_to_death = missing, %') from harmonised.quarantine_current "
            "where \"table\" = 'raw/gdc_cases' and field = 'demographic.days_to_death' and reason = ?",
            [DEAD_WITHOUT_DEATH_DAY],
        ).fetchone()
        patients = connection.execute("select count(*) from harmonised.patients_current").fetchone()[0]
    assert changed > 0 and rejected == (changed, 0), (changed, rejected)
    assert patients == world.reference.relations["harmonised.patients_current"][0] - changed
