"""harmonise_patients on the real TCGA dev bundle (release 45.0), checked against TCGA-CDR survival."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from contracts.schemas import PATIENTS_SCHEMA
from transforms import survival as surv
from transforms.patients import harmonise_patients, reconcile_case_counts
from transforms.raw_tables import raw_cases_table

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real_documents(real_dev_bundle: Path) -> list[dict]:
    path = real_dev_bundle / "releases" / "45.0" / "cases.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def real_raw(real_documents: list[dict]) -> pl.DataFrame:
    return raw_cases_table(real_documents, "45.0")


@pytest.fixture(scope="module")
def real_harmonised(real_raw: pl.DataFrame):
    return harmonise_patients(real_raw)


def test_real_dev_bundle_777_cases_reconcile_exactly(real_raw: pl.DataFrame, real_harmonised) -> None:
    counts = reconcile_case_counts(real_raw, real_harmonised.patients, real_harmonised.quarantine)
    assert counts["raw_cases"] == 777
    assert counts["reconciles"], counts
    assert counts["patients"] + counts["quarantined_cases"] == 777
    assert dict(real_harmonised.patients.schema) == PATIENTS_SCHEMA


def test_real_quarantine_holds_exactly_the_known_bad_survival_records(real_harmonised) -> None:
    quarantined = {
        (row["submitter_id"], row["field"], row["reason"]) for row in real_harmonised.quarantine.iter_rows(named=True)
    }
    assert quarantined == {
        # vital_status Dead with no days_to_death anywhere
        ("TCGA-06-0877", "demographic.days_to_death", surv.DEAD_WITHOUT_DEATH_DAY),
        # Alive with days_to_last_follow_up -1
        ("TCGA-TQ-A7RS", "diagnoses.days_to_last_follow_up", surv.NEGATIVE_SURVIVAL_TIME),
        # Dead on day 372 but days_to_last_follow_up -1: dates not trustworthy
        ("TCGA-QH-A6CX", "diagnoses.days_to_last_follow_up", surv.NEGATIVE_SURVIVAL_TIME),
    }
    for detail in real_harmonised.quarantine.get_column("detail"):
        assert detail.startswith("case TCGA-")


def test_real_not_reported_vital_status_is_censored_at_last_follow_up(real_harmonised) -> None:
    unreported = real_harmonised.patients.filter(pl.col("vital_status").is_null())
    assert sorted(unreported.get_column("submitter_id")) == ["TCGA-16-0861", "TCGA-28-5213", "TCGA-DU-6542"]
    assert set(unreported.get_column("survival_rule")) == {surv.LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED}
    assert unreported.get_column("death_observed").to_list() == [False] * 3


def test_real_grades_histology_and_sex_are_fully_mapped(real_harmonised) -> None:
    patients = real_harmonised.patients
    assert patients.get_column("histology_family").null_count() == 0
    assert set(patients.get_column("sex")) == {"female", "male"}
    graded = patients.filter(pl.col("who_grade").is_not_null())
    assert set(graded.get_column("who_grade")) == {2, 3, 4}
    missing = patients.filter(pl.col("who_grade").is_null())
    assert missing.get_column("who_grade_missing_reason").null_count() == 0
    assert set(missing.get_column("project_id")) == {"TCGA-LGG"}  # GBM always gets 4
    gbm = patients.filter(pl.col("project_id") == "TCGA-GBM")
    assert gbm.get_column("who_grade").to_list() == [4] * gbm.height


def test_real_survival_agrees_with_tcga_cdr(realdata_dir: Path, real_harmonised) -> None:
    """Event and time agreement with TCGA-CDR (Liu et al. 2018) where the GDC record is not newer.

    Comparable: both have an endpoint, and GDC is not ahead of the CDR — GDC time <= CDR time, or both
    say the same about death (a later GDC follow-up with a different event would be news, not error).
    """
    cdr = pl.read_csv(realdata_dir / "tables" / "tcga_cdr_dev.csv", infer_schema=False, encoding="utf8-lossy")
    cdr = cdr.select(
        pl.col("bcr_patient_barcode").alias("submitter_id"),
        pl.col("OS").cast(pl.Float64, strict=False).alias("cdr_event"),
        pl.col("OS.time").cast(pl.Float64, strict=False).alias("cdr_days"),
    ).drop_nulls()
    joined = (
        real_harmonised.patients.drop_nulls(["overall_survival_days", "death_observed"])
        .join(cdr, on="submitter_id", how="inner")
        .with_columns(
            (pl.col("death_observed").cast(pl.Float64) == pl.col("cdr_event")).alias("events_agree"),
            ((pl.col("overall_survival_days") - pl.col("cdr_days")).abs() <= 1.0).alias("times_equal"),
        )
    )
    comparable = joined.filter((pl.col("overall_survival_days") <= pl.col("cdr_days")) | pl.col("events_agree"))
    assert comparable.height >= 700
    events_agree = comparable.get_column("events_agree").mean()
    times_equal = comparable.get_column("times_equal").mean()
    print(f"CDR agreement on {comparable.height} comparable cases: events {events_agree:.1%}, times {times_equal:.1%}")
    assert events_agree >= 0.95
    assert times_equal >= 0.90


@pytest.mark.slow
def test_harmonising_100k_cases_takes_seconds(real_raw: pl.DataFrame) -> None:
    copies = -(-100_000 // real_raw.height)
    raw = (
        pl.concat([real_raw] * copies)
        .head(100_000)
        .with_columns(pl.format("case-{}", pl.int_range(0, pl.len())).alias("case_id"))
    )
    started = time.perf_counter()
    result = harmonise_patients(raw)
    elapsed = time.perf_counter() - started
    print(f"harmonise_patients on {raw.height:,} cases: {elapsed:.1f} s")
    assert reconcile_case_counts(raw, result.patients, result.quarantine)["reconciles"]
    assert result.patients.height + result.quarantine.get_column("case_id").n_unique() == 100_000
    # Generous bound for a shared 2-core machine; typical is a few seconds, dominated by json.loads.
    assert elapsed < 25
