"""The bad_value_share knob: that share of cases (in expectation) gets one recorded, visible bad value."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from sandbox.synthetic import DEFECT_KINDS, TRUTH_FILE, CohortSpec, write_bundle

N_CASES = 400


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _values_at(document: dict, dotted: str) -> list:
    """Every value at a dotted GDC path (lists are walked, like GDC's nested field names)."""
    current = [document]
    for key in dotted.split("."):
        nxt = []
        for item in current:
            items = item if isinstance(item, list) else [item]
            nxt.extend(i[key] for i in items if isinstance(i, dict) and key in i)
        current = nxt
    flat = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


@pytest.fixture(scope="module", params=["dr45", "pre_dr17", "dr42"])
def defective(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"bad_{request.param}")
    summary = write_bundle(
        root, CohortSpec(n_cases=N_CASES, seed=21, profile=request.param, bad_value_share=0.1, methylation_share=0.0)
    )
    truth = pl.read_parquet(summary.release_dir / TRUTH_FILE)
    cases = _jsonl(summary.release_dir / "cases.jsonl")
    return summary, truth, cases


def test_the_recorded_share_of_cases_has_a_defect(defective):
    summary, truth, _ = defective
    recorded = truth.filter(pl.col("defect_kind").is_not_null())
    # Binomial(400, 0.1): mean 40, sd 6
    assert 22 <= recorded.height <= 58
    assert recorded["case_id"].n_unique() == recorded.height
    kinds = Counter(recorded["defect_kind"])
    assert set(kinds) <= set(DEFECT_KINDS) and len(kinds) >= 8


def test_each_recorded_defect_is_visible_in_the_case_document(defective):
    summary, truth, cases = defective
    by_id: dict[str, list[dict]] = {}
    for case in cases:
        by_id.setdefault(case["case_id"], []).append(case)
    duplicates = truth.filter(pl.col("defect_kind") == "duplicate_case_document").height
    assert duplicates >= 1
    assert summary.n_case_documents == len(cases) == N_CASES + duplicates
    for row in truth.filter(pl.col("defect_kind").is_not_null()).iter_rows(named=True):
        documents = by_id[row["case_id"]]
        document = documents[0]
        kind, field, value = row["defect_kind"], row["defect_field"], row["defect_value"]
        if kind == "duplicate_case_document":
            assert len(documents) == 2 and documents[0] == documents[1]
            continue
        assert len(documents) == 1
        if kind == "missing_submitter_id":
            assert "submitter_id" not in document
        elif kind == "dead_without_days_to_death":
            holder = field.split(".")[0]
            assert "Dead" in _values_at(document, f"{holder}.vital_status")
            assert not [v for v in _values_at(document, field) if v is not None]
        else:
            found = [str(int(v)) if isinstance(v, float) else str(v) for v in _values_at(document, field)]
            assert value in found, (kind, field, value, found)
        if kind.startswith("negative"):
            assert int(value) < 0
        if kind == "age_at_diagnosis_over_120_years":
            assert int(value) > 120 * 365.25
        if kind == "days_to_death_before_last_follow_up":
            deaths = _values_at(document, "demographic.days_to_death") + _values_at(document, "diagnoses.days_to_death")
            assert any(d is not None and int(value) > d for d in deaths)


def test_zero_share_means_no_defects(tmp_path):
    summary = write_bundle(tmp_path, CohortSpec(n_cases=120, seed=21, methylation_share=0.0))
    truth = pl.read_parquet(summary.release_dir / TRUTH_FILE)
    assert truth["defect_kind"].null_count() == truth.height
    cases = _jsonl(summary.release_dir / "cases.jsonl")
    assert len({c["case_id"] for c in cases}) == len(cases) == 120
    assert all(c["submitter_id"].startswith("TCGA-") and len(c["submitter_id"]) == 12 for c in cases)


def test_every_defect_kind_occurs_at_a_higher_share(tmp_path):
    summary = write_bundle(tmp_path, CohortSpec(n_cases=300, seed=21, bad_value_share=0.4, methylation_share=0.0))
    truth = pl.read_parquet(summary.release_dir / TRUTH_FILE)
    kinds = Counter(truth["defect_kind"].drop_nulls())
    assert 90 <= sum(kinds.values()) <= 150  # Binomial(300, 0.4): mean 120, sd 8.5
    assert set(kinds) == set(DEFECT_KINDS)
