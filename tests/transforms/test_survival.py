"""The overall-survival rule, branch by branch (transforms/survival.py docstring)."""

from __future__ import annotations

import polars as pl
import pytest

from transforms import survival as surv
from transforms.survival import survival_endpoint

DIAGNOSIS_FU = "diagnoses.days_to_last_follow_up"
FOLLOW_UP_FU = "follow_ups.days_to_follow_up"


def test_dead_with_death_day_uses_death_day_as_event_time() -> None:
    out = survival_endpoint("Dead", 345, {DIAGNOSIS_FU: [320.0], FOLLOW_UP_FU: [320]})
    assert out["overall_survival_days"] == 345.0
    assert out["death_observed"] is True
    assert out["survival_rule"] == surv.DEATH_DAY
    assert out["survival_rejection"] is None


def test_follow_up_after_death_is_rejected_naming_the_follow_up() -> None:
    out = survival_endpoint("Dead", 300, {FOLLOW_UP_FU: [420], DIAGNOSIS_FU: [100.0]})
    assert out["survival_rejection"] == surv.FOLLOW_UP_AFTER_DEATH
    assert (out["survival_rejection_field"], out["survival_rejection_value"]) == (FOLLOW_UP_FU, "420.0")
    assert out["overall_survival_days"] is None


def test_follow_up_on_the_death_day_is_consistent() -> None:
    out = survival_endpoint("Dead", 300, {FOLLOW_UP_FU: [300], DIAGNOSIS_FU: [300.0]})
    assert (out["overall_survival_days"], out["survival_rule"]) == (300.0, surv.DEATH_DAY)


def test_alive_is_censored_at_largest_follow_up_across_diagnoses_and_follow_ups() -> None:
    out = survival_endpoint("Alive", None, {DIAGNOSIS_FU: [839.0, 100.0], FOLLOW_UP_FU: [900, 12]})
    assert (out["overall_survival_days"], out["death_observed"]) == (900.0, False)
    assert out["survival_rule"] == surv.LAST_FOLLOW_UP


def test_follow_up_only_on_follow_ups_as_in_dr42_still_gives_an_endpoint() -> None:
    out = survival_endpoint("Alive", None, {FOLLOW_UP_FU: [1553]})
    assert out["overall_survival_days"] == 1553.0


def test_dead_without_death_day_is_rejected_not_guessed() -> None:
    out = survival_endpoint("Dead", None, {FOLLOW_UP_FU: [204]})
    assert out["survival_rejection"] == surv.DEAD_WITHOUT_DEATH_DAY
    assert out["survival_rejection_field"] == "demographic.days_to_death"
    assert out["overall_survival_days"] is None and out["survival_rule"] is None


def test_dead_without_death_day_before_dr17_names_the_diagnosis_field() -> None:
    out = survival_endpoint("Dead", None, {}, days_to_death_field="diagnoses.days_to_death")
    assert out["survival_rejection_field"] == "diagnoses.days_to_death"


def test_negative_death_day_is_rejected() -> None:
    out = survival_endpoint("Dead", -3, {})
    assert out["survival_rejection"] == surv.NEGATIVE_SURVIVAL_TIME
    assert out["survival_rejection_value"] == "-3.0"


def test_negative_follow_up_rejects_an_alive_case_naming_the_field() -> None:
    out = survival_endpoint("Alive", None, {DIAGNOSIS_FU: [-1.0], FOLLOW_UP_FU: [40]})
    assert out["survival_rejection"] == surv.NEGATIVE_SURVIVAL_TIME
    assert out["survival_rejection_field"] == DIAGNOSIS_FU
    assert out["survival_rejection_value"] == "-1.0"


def test_negative_follow_up_rejects_even_a_dead_case_with_a_death_day() -> None:
    out = survival_endpoint("Dead", 372, {DIAGNOSIS_FU: [-1.0], FOLLOW_UP_FU: [-1]})
    assert out["survival_rejection"] == surv.NEGATIVE_SURVIVAL_TIME
    assert out["survival_rejection_value"] == "-1.0"


def test_alive_with_death_day_is_a_contradiction() -> None:
    out = survival_endpoint("Alive", 50, {FOLLOW_UP_FU: [60]})
    assert out["survival_rejection"] == surv.ALIVE_WITH_DEATH_DAY


def test_unreported_vital_status_is_censored_at_last_follow_up() -> None:
    out = survival_endpoint(None, None, {FOLLOW_UP_FU: [131]})
    assert (out["overall_survival_days"], out["death_observed"]) == (131.0, False)
    assert out["survival_rule"] == surv.LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED


def test_unreported_vital_status_with_death_day_counts_the_death() -> None:
    out = survival_endpoint(None, 88, {FOLLOW_UP_FU: [40]})
    assert survival_endpoint(None, 88, {FOLLOW_UP_FU: [90]})["survival_rejection"] == surv.FOLLOW_UP_AFTER_DEATH
    assert (out["overall_survival_days"], out["death_observed"]) == (88.0, True)
    assert out["survival_rule"] == surv.DEATH_DAY_VITAL_STATUS_UNREPORTED


@pytest.mark.parametrize("vital_status", ["Alive", None])
def test_no_follow_up_keeps_the_case_without_an_endpoint(vital_status: str | None) -> None:
    out = survival_endpoint(vital_status, None, {})
    assert out["survival_rejection"] is None
    assert out["survival_rule"] == surv.NO_FOLLOW_UP
    assert out["overall_survival_days"] is None and out["death_observed"] is None


def test_day_zero_death_is_a_valid_event() -> None:
    out = survival_endpoint("Dead", 0, {})
    assert (out["overall_survival_days"], out["death_observed"]) == (0.0, True)


def test_table_version_gives_one_rule_per_row_from_the_same_code() -> None:
    frame = pl.DataFrame(
        {
            "row": [0, 1, 2],
            "vital_status": ["Dead", "Alive", None],
            "days_to_death": [10.0, None, None],
            "days_to_death_field": ["demographic.days_to_death"] * 3,
        },
        schema_overrides={"row": pl.UInt32},
    )
    long = pl.DataFrame(
        [(0, FOLLOW_UP_FU, 5.0), (1, FOLLOW_UP_FU, 7.0), (1, DIAGNOSIS_FU, 9.0)],
        schema=surv.FOLLOW_UP_LONG_SCHEMA,
        orient="row",
    )
    out = surv.overall_survival(frame.join(surv.follow_up_summary(long, 3), on="row", how="left"))
    assert out.get_column("survival_rule").to_list() == [surv.DEATH_DAY, surv.LAST_FOLLOW_UP, surv.NO_FOLLOW_UP]
    assert out.get_column("overall_survival_days").to_list() == [10.0, 9.0, None]
    assert set(out.get_column("survival_rule").drop_nulls()) <= set(surv.SURVIVAL_RULES)
