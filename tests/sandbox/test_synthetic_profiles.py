"""Release profiles put each clinical field where that GDC release had it; realism traps are present."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from sandbox.synthetic import RELEASE_PROFILES, CohortSpec, write_bundle

PROFILE_LABELS = {"pre_dr17": "16.0", "dr17": "17.0", "dr42": "42.0", "dr43": "43.0", "dr45": "45.0", "api85": "46.0"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def profile_bundles(tmp_path_factory) -> dict[str, tuple[Path, list[dict]]]:
    out = {}
    for profile, label in PROFILE_LABELS.items():
        root = tmp_path_factory.mktemp(f"profile_{profile}")
        summary = write_bundle(
            root, CohortSpec(n_cases=150, seed=5, release_label=label, profile=profile, methylation_share=0.0)
        )
        out[profile] = (summary.release_dir, _jsonl(summary.release_dir / "cases.jsonl"))
    return out


def _diagnoses(cases):
    return [d for c in cases for d in c.get("diagnoses", [])]


def test_every_profile_is_covered():
    assert set(RELEASE_PROFILES) == set(PROFILE_LABELS)


def test_pre_dr17_has_vital_status_under_diagnoses_and_not_in_demographic(profile_bundles):
    _, cases = profile_bundles["pre_dr17"]
    assert all("vital_status" not in c["demographic"] and "days_to_death" not in c["demographic"] for c in cases)
    assert all("age_at_index" not in c["demographic"] for c in cases)
    primaries = [d for d in _diagnoses(cases) if d["diagnosis_is_primary_disease"]]
    assert all(d["vital_status"] in {"Alive", "Dead", "Not Reported"} for d in primaries)
    assert any(isinstance(d.get("days_to_death"), int) for d in primaries)
    assert all(d["tumor_grade"] == "Not Reported" for d in _diagnoses(cases))
    assert all("gender" in c["demographic"] and "sex_at_birth" not in c["demographic"] for c in cases)


def test_dr17_moves_vital_status_to_demographic_with_gender_only_and_no_grade(profile_bundles):
    _, cases = profile_bundles["dr17"]
    assert all(c["demographic"]["vital_status"] in {"Alive", "Dead", "Not Reported"} for c in cases)
    assert all("vital_status" not in d and "days_to_death" not in d for d in _diagnoses(cases))
    assert all("gender" in c["demographic"] and "sex_at_birth" not in c["demographic"] for c in cases)
    assert all(d["tumor_grade"] == "Not Reported" for d in _diagnoses(cases))


def test_dr42_populates_grade_adds_second_diagnoses_and_keeps_follow_up_only_in_follow_ups(profile_bundles):
    _, cases = profile_bundles["dr42"]
    grades = Counter(d["tumor_grade"] for d in _diagnoses(cases))
    assert {"G2", "G3", "G4"} <= set(grades)
    second = [d for d in _diagnoses(cases) if d["submitter_id"].endswith("_diagnosis2")]
    assert len(second) >= 15  # ~25 % of 150
    assert all(d["classification_of_tumor"] == "recurrence" and not d["diagnosis_is_primary_disease"] for d in second)
    # the recurrence is sometimes listed first (the trap that made clients pick the wrong diagnosis)
    assert any(
        c["diagnoses"][0]["submitter_id"].endswith("_diagnosis2") for c in cases if len(c.get("diagnoses", [])) > 1
    )
    assert all("days_to_last_follow_up" not in d for d in _diagnoses(cases))
    assert any("days_to_follow_up" in f for c in cases for f in c.get("follow_ups", []))


def test_dr43_restores_days_to_last_follow_up_on_diagnoses(profile_bundles):
    _, cases = profile_bundles["dr43"]
    primaries = [d for d in _diagnoses(cases) if d["diagnosis_is_primary_disease"]]
    assert all(isinstance(d["days_to_last_follow_up"], float) for d in primaries)
    assert all("gender" in c["demographic"] and "sex_at_birth" not in c["demographic"] for c in cases)
    assert {"G2", "G3", "G4"} <= {d["tumor_grade"] for d in primaries}


def test_dr45_has_gender_and_sex_at_birth_and_api85_only_sex_at_birth(profile_bundles):
    _, dr45 = profile_bundles["dr45"]
    assert all({"gender", "sex_at_birth"} <= set(c["demographic"]) for c in dr45)
    _, api85 = profile_bundles["api85"]
    assert all(
        "gender" not in c["demographic"] and c["demographic"]["sex_at_birth"] in {"male", "female", "unknown"}
        for c in api85
    )


@pytest.mark.parametrize("profile", sorted(PROFILE_LABELS))
def test_status_json_names_the_release_in_the_gdc_format(profile_bundles, profile):
    release_dir, _ = profile_bundles[profile]
    status = json.loads((release_dir / "status.json").read_text())
    label = PROFILE_LABELS[profile]
    match = re.fullmatch(r"Data Release (\d+\.\d+) - ([A-Z][a-z]+) (\d{2}), (\d{4})", status["data_release"])
    assert match and match.group(1) == label
    assert status["status"] == "OK" and status["version"] == 1 and status["tag"]
    assert ("data_release_version" in status) == RELEASE_PROFILES[profile].data_release_version_block
    if label == "45.0":
        assert status["data_release"] == "Data Release 45.0 - December 04, 2025"


@pytest.fixture(scope="module")
def dr45_cases(tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("traps")
    summary = write_bundle(root, CohortSpec(n_cases=1500, seed=9, methylation_share=0.0))
    return _jsonl(summary.release_dir / "cases.jsonl")


def test_realism_traps_are_present(dr45_cases):
    cases = dr45_cases
    demographic = [c["demographic"] for c in cases]
    # sentinels with inconsistent casing
    assert {"not reported", "Unknown"} <= {d["race"] for d in demographic}
    assert {"not reported", "Unknown", "unknown"} <= {d["ethnicity"] for d in demographic}
    # yes/no lowercase on diagnoses, Yes/No on prior_treatment and follow_ups
    primaries = [d for c in cases for d in c.get("diagnoses", []) if d["diagnosis_is_primary_disease"]]
    assert {"yes", "no", "not reported"} == {d["prior_malignancy"] for d in primaries}
    assert {d["prior_treatment"] for d in primaries} <= {"Yes", "No"}
    follow_ups = [f for c in cases for f in c.get("follow_ups", [])]
    assert {f["progression_or_recurrence"] for f in follow_ups if "progression_or_recurrence" in f} <= {"Yes", "No"}
    # float last follow-up, Karnofsky as a string
    assert all(isinstance(d["days_to_last_follow_up"], float) for d in primaries if "days_to_last_follow_up" in d)
    assert all(
        isinstance(f["karnofsky_performance_status"], str) for f in follow_ups if "karnofsky_performance_status" in f
    )
    # missing children are absent keys, never []
    without_follow_ups = [c for c in cases if "follow_ups" not in c]
    without_diagnoses = [c for c in cases if "diagnoses" not in c]
    assert 0.02 * len(cases) <= len(without_follow_ups) <= 0.09 * len(cases)
    assert 1 <= len(without_diagnoses) <= 0.02 * len(cases)
    assert all(c.get("follow_ups") != [] and c.get("diagnoses") != [] for c in cases)
    # explicit null vs absent days_to_death for the living
    alive = [d for d in demographic if d["vital_status"] == "Alive"]
    assert any("days_to_death" in d and d["days_to_death"] is None for d in alive)
    assert any("days_to_death" not in d for d in alive)
    # ages above 89 are obfuscated
    old = [d for d in demographic if d.get("age_is_obfuscated")]
    assert old and all(d["age_at_index"] == 89 and d["days_to_birth"] == -32872 for d in old)
    # several follow-ups and molecular tests occur
    assert any(len(c.get("follow_ups", [])) > 1 for c in cases)
    tests = [t for f in follow_ups for t in f.get("molecular_tests", [])]
    assert {"MGMT", "IDH1"} <= {t["gene_symbol"] for t in tests}
    # cases not profiled for ssm lack "ssm" (wild type cannot be inferred for them)
    assert any("ssm" not in c.get("available_variation_data", []) for c in cases)


def test_synthetic_documents_have_every_field_path_of_the_real_dev_bundle(real_dev_bundle, dr45_cases, tmp_path):
    """The shapes are copied from the real bundle: every nested key path it uses exists here too."""
    real = real_dev_bundle / "releases" / "45.0"

    def paths(document, prefix=""):
        out = set()
        if isinstance(document, dict):
            for key, value in document.items():
                out |= {f"{prefix}{key}"} | paths(value, f"{prefix}{key}.")
        elif isinstance(document, list):
            for item in document:
                out |= paths(item, prefix)
        return out

    def all_paths(docs):
        result = set()
        for document in docs:
            result |= paths(document)
        return result

    summary = write_bundle(tmp_path, CohortSpec(n_cases=300, seed=2))
    synthetic = summary.release_dir
    for name, synthetic_docs in (
        ("cases.jsonl", dr45_cases),
        ("ssm_occurrences.jsonl", _jsonl(synthetic / "ssm_occurrences.jsonl")),
        ("cnv_occurrences.jsonl", _jsonl(synthetic / "cnv_occurrences.jsonl")),
        ("files.jsonl", _jsonl(synthetic / "files.jsonl")),
    ):
        real_docs = [json.loads(line) for line in (real / name).read_text().splitlines()[:400]]
        missing = all_paths(real_docs) - all_paths(synthetic_docs)
        assert not missing, f"{name}: synthetic documents lack {sorted(missing)}"
    real_status = json.loads((real / "status.json").read_text())
    synthetic_status = json.loads((synthetic / "status.json").read_text())
    assert set(real_status) <= set(synthetic_status)
