"""harmonise_patients against the synthetic generator's truth (every release profile, 20 % bad values)
and against 1,000 randomly mutated real case documents."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from transforms import patients as P
from transforms import survival as surv
from transforms.patients import harmonise_patients, reconcile_case_counts
from transforms.raw_tables import raw_cases_table

synthetic = pytest.importorskip("sandbox.synthetic.writer")

PROFILES = ("pre_dr17", "dr17", "dr42", "dr43", "dr45", "api85")
GRADE_POPULATED = {"dr42", "dr43", "dr45", "api85"}

# What the harmoniser must say about each defect the generator plants (field comes from the truth).
EXPECTED_REASON = {
    "negative_days_to_last_follow_up": surv.NEGATIVE_SURVIVAL_TIME,
    "negative_days_to_death": surv.NEGATIVE_SURVIVAL_TIME,
    "days_to_death_before_last_follow_up": surv.FOLLOW_UP_AFTER_DEATH,
    "dead_without_days_to_death": surv.DEAD_WITHOUT_DEATH_DAY,
    "age_at_diagnosis_over_120_years": P.AGE_OUT_OF_RANGE,
    "vital_status_garbage": P.UNMAPPED_VALUE,
    "missing_submitter_id": P.MISSING_REQUIRED_FIELD,
    "bad_barcode": P.INVALID_BARCODE,
    "karnofsky_not_a_number": P.INVALID_KARNOFSKY_SCORE,
    "karnofsky_out_of_range": P.INVALID_KARNOFSKY_SCORE,
}


@pytest.fixture(scope="module", params=PROFILES)
def synthetic_release(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    profile = request.param
    root = tmp_path_factory.mktemp(f"synthetic_{profile}")
    summary = synthetic.write_bundle(
        root, synthetic.CohortSpec(n_cases=300, seed=11, profile=profile, bad_value_share=0.2)
    )
    lines = (summary.release_dir / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    raw = raw_cases_table([json.loads(line) for line in lines], summary.release_label)
    truth = pl.read_parquet(summary.release_dir / synthetic.TRUTH_FILE).filter(pl.col("in_release"))
    return profile, raw, truth, harmonise_patients(raw)


def test_synthetic_bundle_reconciles_exactly(synthetic_release) -> None:
    _, raw, truth, result = synthetic_release
    counts = reconcile_case_counts(raw, result.patients, result.quarantine)
    assert counts["reconciles"], counts
    assert counts["raw_cases"] == truth.height == 300
    assert counts["raw_rows"] > counts["raw_cases"]  # the duplicate-document defect


def test_every_planted_defect_is_quarantined_with_its_field_and_no_clean_case_is(synthetic_release) -> None:
    _, _, truth, result = synthetic_release
    quarantined = result.quarantine.select("case_id", "field", "reason").unique()
    defects = truth.filter(pl.col("defect_kind").is_not_null() & (pl.col("defect_kind") != "duplicate_case_document"))
    assert defects.height >= 40
    for defect in defects.iter_rows(named=True):
        rows = quarantined.filter(pl.col("case_id") == defect["case_id"])
        found = set(zip(rows.get_column("field"), rows.get_column("reason"), strict=True))
        assert (defect["defect_field"], EXPECTED_REASON[defect["defect_kind"]]) in found, (defect, found)
    clean = truth.filter(pl.col("defect_kind").is_null() | (pl.col("defect_kind") == "duplicate_case_document"))
    assert clean.join(quarantined, on="case_id", how="semi").height == 0


def test_duplicate_case_documents_collapse_into_one_patient(synthetic_release) -> None:
    _, _, truth, result = synthetic_release
    duplicated = truth.filter(pl.col("defect_kind") == "duplicate_case_document").get_column("case_id")
    assert duplicated.len() >= 1
    patients = result.patients.filter(pl.col("case_id").is_in(duplicated.implode()))
    assert patients.height == duplicated.len()
    noted = result.notes.filter(pl.col("note").str.contains("duplicate")).get_column("case_id")
    assert set(noted) == set(duplicated)


def test_clean_cases_match_the_generator_truth(synthetic_release) -> None:
    profile, _, truth, result = synthetic_release
    joined = result.patients.join(truth, on="case_id", suffix="_truth")
    # The endpoint must be the true one wherever the record carries it: vital status reported (and
    # present: pre-DR17 cases without a diagnosis lack it) and some follow-up day (DR42 cases without
    # follow_ups lack it).
    reported = joined.filter(
        pl.col("vital_status_reported")
        & pl.col("vital_status").is_not_null()
        & pl.col("overall_survival_days").is_not_null()
    )
    assert reported.height >= 0.8 * joined.height
    for column in ("overall_survival_days", "death_observed"):
        agree = reported.select(pl.col(column).eq_missing(pl.col(f"{column}_truth")).all()).item()
        assert agree, (profile, column)
    # Where the record says `not reported`/`unknown` (or lacks the entity) the harmonised value is null
    # although the latent truth exists; wherever a value comes out, it is the true one.
    for column in ("sex", "received_radiation", "received_temozolomide", "karnofsky_score"):
        values = joined.select(pl.col(column), pl.col(f"{column}_truth"))
        assert values.filter(pl.col(column).is_not_null() & (pl.col(column) != pl.col(f"{column}_truth"))).height == 0
        assert values.get_column(column).null_count() < 0.6 * joined.height, (profile, column)
    # ages: days / 365.25, or integer age_at_index (and obfuscation at 90) when the diagnosis lacks it
    assert (
        joined.get_column("age_at_diagnosis_years") - joined.get_column("age_at_diagnosis_years_truth")
    ).abs().max() < 1.0
    with_grade = joined.filter(pl.col("who_grade").is_not_null())
    assert (with_grade.get_column("who_grade") == with_grade.get_column("who_grade_truth")).all()
    if profile in GRADE_POPULATED:  # null only for LGG without a usable tumor_grade, with the reason
        missing = joined.filter(pl.col("who_grade").is_null())
        assert missing.get_column("who_grade_missing_reason").str.starts_with("tumor_grade").all()
        assert set(missing.get_column("project_id")) <= {"TCGA-LGG"}
        assert missing.height <= 0.15 * joined.height
    else:  # tumor_grade `Not Reported`: GBM from the project, LGG unknown with a reason
        assert set(with_grade.get_column("project_id")) == {"TCGA-GBM"}
        assert joined.filter(pl.col("who_grade").is_null()).get_column("who_grade_missing_reason").null_count() == 0
    unreported = joined.filter(~pl.col("vital_status_reported"))
    assert set(unreported.get_column("survival_rule")) <= {
        surv.LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED,
        surv.DEATH_DAY_VITAL_STATUS_UNREPORTED,
        surv.NO_FOLLOW_UP,
    }


# --- fuzzing real documents -------------------------------------------------------------------------

GARBAGE: tuple[Any, ...] = (
    "",
    "garbage",
    "  ",
    -5,
    3.7,
    True,
    False,
    None,
    [],
    {},
    ["x"],
    {"a": 1},
    "NOT REPORTED",
    "  Unknown ",
    "[Not Available]",
    "'--",
    1e308,
    "-1",
    "12abc",
)


RAW_KEY_PATHS = {("submitter_id",), ("project",), ("project", "project_id"), ("updated_datetime",)}


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(prefix + (key,))
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append(prefix + (index,))
            out += _paths(value, prefix + (index,))
    return out


def _parent(document: Any, path: tuple) -> Any:
    node = document
    for key in path[:-1]:
        node = node[key]
    return node


def mutate(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """1-3 random edits: delete a key, garbage a value, swap sentinel casing, negate a day."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(document) if p[0] not in ("id", "case_id")]
        if not paths:
            break
        path = rng.choice(paths)
        parent, key = _parent(document, path), path[-1]
        operation = rng.random()
        if path in RAW_KEY_PATHS and 0.3 <= operation < 0.6:
            # raw_cases_table types these key columns as strings: garbage them with strings only
            parent[key] = rng.choice(["garbage", "", "TCGA_06_0001", "tcga-06-0001"])
            continue
        if operation < 0.3 and isinstance(parent, dict):
            del parent[key]
        elif operation < 0.6:
            parent[key] = copy.deepcopy(rng.choice(GARBAGE))
        elif operation < 0.8:
            strings = [
                p
                for p in paths
                if isinstance(_parent(document, p), (dict, list)) and isinstance(_get(document, p), str)
            ]
            if strings:
                target = rng.choice(strings)
                text = _get(document, target)
                _parent(document, target)[target[-1]] = rng.choice(
                    [text.upper(), text.lower(), text.title(), f" {text} "]
                )
        else:
            days = [p for p in paths if isinstance(p[-1], str) and p[-1].startswith(("days_to", "age_at"))]
            if days:
                target = rng.choice(days)
                value = _get(document, target)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    _parent(document, target)[target[-1]] = -abs(value) - 1
    return document


def _get(document: Any, path: tuple) -> Any:
    node = document
    for key in path:
        node = node[key]
    return node


@pytest.mark.realdata
def test_one_thousand_fuzzed_real_cases_never_raise_and_reconcile_exactly(real_dev_bundle: Path) -> None:
    lines = (real_dev_bundle / "releases" / "45.0" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    originals = [json.loads(line) for line in lines]
    rng = random.Random(20261122)
    documents = []
    for i in range(1000):
        document = mutate(originals[i % len(originals)], rng)
        if i >= len(originals):  # second pass over the real cases: new ids, except a few duplicates
            if rng.random() < 0.97:
                document["case_id"] = document["id"] = f"fuzz-{i:04d}"
        documents.append(document)
    raw = raw_cases_table(documents, "45.0")
    # a few documents that are not even JSON, and one without any id
    raw = raw.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 5)
        .then(pl.col("document").str.slice(0, 40))
        .otherwise(pl.col("document"))
        .alias("document"),
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("case_id")).alias("case_id"),
    )

    result = harmonise_patients(raw)  # must not raise

    counts = reconcile_case_counts(raw, result.patients, result.quarantine)
    assert counts["reconciles"], counts
    assert counts["quarantined_cases"] >= 100 and counts["patients"] >= 300
    quarantine = result.quarantine
    assert quarantine.get_column("field").null_count() == 0
    assert quarantine.get_column("reason").null_count() == 0
    for row in quarantine.iter_rows(named=True):
        assert row["field"] in row["detail"], row
        assert f"case {row['submitter_id'] or '?'} " in row["detail"]
        assert row["record"]
    patients = result.patients
    assert set(patients.get_column("who_grade").drop_nulls()) <= {2, 3, 4}
    assert set(patients.get_column("sex").drop_nulls()) <= {"female", "male"}
    assert patients.get_column("age_at_diagnosis_years").drop_nulls().is_between(0, 120).all()
    assert (patients.get_column("overall_survival_days").drop_nulls() >= 0).all()
    assert set(patients.get_column("survival_rule")) <= set(surv.SURVIVAL_RULES)
    assert set(patients.get_column("histology_family").drop_nulls()) <= {
        "glioblastoma",
        "astrocytoma",
        "oligodendroglioma",
        "oligoastrocytoma",
        "other",
    }
