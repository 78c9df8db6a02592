"""1,000 fuzzed case documents in a release, through the stand-in and a full refresh: every one ends in the
quarantine with a reason naming case, field and value; a 1 MB value is stored once (the document in
`record`) and truncated in `value` and `detail`; counts reconcile; nothing analysts read about the other
patients changes (patients, markers, model matrix, scores equal a refresh without the fuzzed documents)."""

from __future__ import annotations

import duckdb
import pytest
from fuzzed_documents import FUZZED_ID_PREFIX, MEGABYTE, write_fuzzed_release
from reliability_state import REFRESH, published_state, run_refresh

from sandbox.gdc_standin import GdcStandIn
from transforms.quarantine import MAX_VALUE_CHARS

pytestmark = pytest.mark.slow

UNCHANGED = (
    "harmonised.patients",
    "harmonised.molecular_markers",
    "features.model_matrix",
    "scores.grading",
    "scores.survival_risk",
    "scores.grading_current",
    "scores.survival_risk_current",
)


def test_one_thousand_fuzzed_documents_end_in_quarantine_and_nothing_else_changes(world, tmp_path):
    release_dir = world.server.bundle_root / "releases" / world.second
    fuzzed_ids = write_fuzzed_release(release_dir, tmp_path / "fuzzed_root", world.second)
    data, home = world.copy(tmp_path / "world")
    with GdcStandIn(tmp_path / "fuzzed_root", port=0) as server:
        code, output = run_refresh(server.base_url, data, home, world.second, REFRESH)
    assert code == 0, output[-4000:]

    state = published_state(data)
    # The markers table has a row per raw case (a patient's rejection is the patients harmoniser's call), so
    # rows of the fuzzed cases are set aside; every other row must be exactly the fault-free refresh's.
    for relation in UNCHANGED:
        others = [row for row in state.rows[relation] if FUZZED_ID_PREFIX not in row]
        assert others == world.reference.rows[relation], relation
        assert len(others) == world.reference.relations[relation][0]

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as connection:
        rejects = connection.execute(
            "select case_id, field, value, reason, detail, length(record) as record_chars "
            "from harmonised.quarantine_current where \"table\" = 'raw/gdc_cases'"
        ).pl()
        raw_cases = connection.execute("select count(*) from raw.gdc_cases_current").fetchone()[0]
        patients = connection.execute("select count(*) from harmonised.patients_current").fetchone()[0]
    fuzzed = rejects.filter(rejects["case_id"].is_in(fuzzed_ids))
    assert set(fuzzed["case_id"]) == set(fuzzed_ids)  # every fuzzed document is quarantined
    assert fuzzed["reason"].null_count() == 0 and fuzzed["field"].null_count() == 0
    for row in fuzzed.iter_rows(named=True):
        assert row["case_id"] in row["detail"] and row["field"] in row["detail"], row
    # Counts reconcile: every raw case is a patient or quarantined, never both, never neither.
    assert raw_cases == patients + rejects["case_id"].n_unique()
    megabyte = fuzzed.filter(fuzzed["case_id"] == fuzzed_ids[7])
    assert megabyte.height >= 1
    assert (megabyte["record_chars"] > MEGABYTE).all()  # the whole document is kept ...
    assert (megabyte["value"].str.len_chars() < MAX_VALUE_CHARS + 100).all()  # ... and only cut elsewhere
    assert (megabyte["detail"].str.len_chars() < 5 * MAX_VALUE_CHARS).all()
    cut = megabyte.filter(megabyte["value"].str.contains("characters in all; the whole document is in `record`"))
    assert cut.height == 1, megabyte.select("field", "reason", megabyte["value"].str.slice(0, 80))
    stated = int(cut["value"][0].rsplit("[", 1)[1].split(" ")[0])
    assert stated >= MEGABYTE
