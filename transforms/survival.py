"""The one overall-survival rule (days from diagnosis — GDC's index date for TCGA — to death or last contact).

Inputs per case (already read from wherever the release put them, see `transforms.patients`):
  * vital status: `demographic.vital_status` (DR17 on), else the primary diagnosis' `vital_status`
    (before DR17), mapped to `Alive`/`Dead`/null by `transforms.vocabularies.VITAL_STATUS`;
  * death day: `demographic.days_to_death`, else the primary diagnosis' `days_to_death` (before DR17);
  * follow-up days: every `diagnoses[*].days_to_last_follow_up` (all diagnoses, not only the primary)
    and every `follow_ups[*].days_to_follow_up` — DR42 moved the diagnosis value to follow_ups and
    DR43 moved it back, so only the union of both is stable across releases.

The rule (`survival_rule` names the branch; a rejection sends the case to quarantine):

  Dead
    death day >= 0, no follow-up after it        -> death day, event        `death_day`
    a follow-up day later than the death day     -> rejected               `follow_up_after_death`
        (contact after death: the death day or the follow-up is wrong and nothing says which; taking
        either would bias the endpoint silently. 0 of 777 real dev cases; equal days are fine.)
    death day < 0, or any follow-up day < 0      -> rejected               `negative_survival_time`
    no death day                                 -> rejected               `dead_without_death_day`
        (choice: reject rather than use the last follow-up as death time. That would invent an event
        time that is certainly too early — the patient was alive at that follow-up — and censoring
        there would contradict the recorded vital status. Rare: 1 of 777 real dev cases.)
  Alive
    with a death day                             -> rejected               `alive_with_death_day`
    any negative follow-up day                   -> rejected               `negative_survival_time`
    largest follow-up day                        -> censored there          `last_follow_up`
    no follow-up at all                          -> kept, no endpoint       `no_follow_up`
  Vital status unknown (sentinel `Not Reported`/`Unknown`, or missing)
    death day >= 0                               -> death day, event        `death_day_vital_status_unreported`
        (a recorded death day is direct evidence of death; negative -> `negative_survival_time`,
        a later follow-up -> `follow_up_after_death`)
    any negative follow-up day                   -> rejected               `negative_survival_time`
    largest follow-up day                        -> censored there          `last_follow_up_vital_status_unreported`
        (the patient was in contact, hence alive, on that day; censoring uses exactly that knowledge
        and nothing more)
    nothing                                      -> kept, no endpoint       `no_follow_up`

Any day beyond GDC's data-dictionary maximum for day fields (32,872 days, 90 years), or not a finite number,
rejects the case as `survival_time_out_of_range`: a value like 1e12 is a data error, and it would make every
survival curve, axis and horizon that uses it meaningless.

Any negative day (death or follow-up, on any branch) rejects the case as `negative_survival_time`:
a day before diagnosis means the record's dates are wrong, and the endpoint cannot be trusted even when
the negative value is not the one it would use (TCGA carries `-1` follow-ups: TCGA-TQ-A7RS, TCGA-QH-A6CX).
A case kept with no endpoint has null `overall_survival_days` and `death_observed`: the grading models can
still use it; survival models drop it.
"""

from __future__ import annotations

import polars as pl

DEATH_DAY = "death_day"
DEATH_DAY_VITAL_STATUS_UNREPORTED = "death_day_vital_status_unreported"
LAST_FOLLOW_UP = "last_follow_up"
LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED = "last_follow_up_vital_status_unreported"
NO_FOLLOW_UP = "no_follow_up"
SURVIVAL_RULES: tuple[str, ...] = (
    DEATH_DAY,
    DEATH_DAY_VITAL_STATUS_UNREPORTED,
    LAST_FOLLOW_UP,
    LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED,
    NO_FOLLOW_UP,
)

NEGATIVE_SURVIVAL_TIME = "negative_survival_time"
SURVIVAL_TIME_OUT_OF_RANGE = "survival_time_out_of_range"
# GDC data dictionary: days_to_death, days_to_last_follow_up, days_to_follow_up range 0..32872 (90 years).
MAX_SURVIVAL_DAYS = 32872.0
DEAD_WITHOUT_DEATH_DAY = "dead_without_death_day"
ALIVE_WITH_DEATH_DAY = "alive_with_death_day"
FOLLOW_UP_AFTER_DEATH = "follow_up_after_death"

FOLLOW_UP_FIELDS: tuple[str, ...] = ("diagnoses.days_to_last_follow_up", "follow_ups.days_to_follow_up")

FOLLOW_UP_LONG_SCHEMA: dict[str, pl.DataType] = {"row": pl.UInt32(), "field": pl.String(), "days": pl.Float64()}


def follow_up_summary(follow_ups_long: pl.DataFrame, n_rows: int) -> pl.DataFrame:
    """Per case row (0..n_rows-1): the largest follow-up day and the most negative one (with their fields).

    `follow_ups_long`: one row per recorded follow-up day — `row` (case row index), `field` (dotted GDC
    path, one of FOLLOW_UP_FIELDS), `days` (f64, validated numbers only).
    """
    rows = pl.DataFrame({"row": pl.int_range(0, n_rows, dtype=pl.UInt32, eager=True)})
    summary = (
        follow_ups_long.lazy()
        .sort(["row", "days"])
        .group_by("row")
        .agg(
            pl.col("days").last().alias("last_follow_up_days"),
            pl.col("field").last().alias("last_follow_up_field"),
            pl.col("days").first().alias("_min_days"),
            pl.col("field").first().alias("_min_field"),
        )
        .select(
            "row",
            "last_follow_up_days",
            "last_follow_up_field",
            pl.when(pl.col("_min_days") < 0).then(pl.col("_min_days")).alias("negative_follow_up_days"),
            pl.when(pl.col("_min_days") < 0).then(pl.col("_min_field")).alias("negative_follow_up_field"),
        )
        .collect()
    )
    return rows.join(summary, on="row", how="left").sort("row")


def overall_survival(frame: pl.DataFrame) -> pl.DataFrame:
    """Apply the rule (module docstring) to every row.

    Needs columns `vital_status` (`Alive`/`Dead`/null), `days_to_death` (f64), `days_to_death_field`
    (dotted path it came from), `last_follow_up_days`, `last_follow_up_field`, `negative_follow_up_days`,
    `negative_follow_up_field` (from `follow_up_summary`). Adds `overall_survival_days` (f64),
    `death_observed` (bool), `survival_rule` (str), and for rejected rows `survival_rejection` (reason
    code), `survival_rejection_field`, `survival_rejection_value` (str); all null when accepted.
    """
    vital = pl.col("vital_status")
    death = pl.col("days_to_death")
    last_fu = pl.col("last_follow_up_days")
    negative_fu = pl.col("negative_follow_up_days").is_not_null()
    dead = vital == "Dead"
    alive = vital == "Alive"
    unreported = vital.is_null()
    has_death = death.is_not_null()
    follow_up_after_death = (last_fu > death).fill_null(False)
    # NaN and inf included: neither is a number of days.
    death_out_of_range = has_death & ((death > MAX_SURVIVAL_DAYS) | death.is_nan()).fill_null(False)
    follow_up_out_of_range = ((last_fu > MAX_SURVIVAL_DAYS) | last_fu.is_nan()).fill_null(False)

    rejection = (
        pl.when(death_out_of_range | follow_up_out_of_range)
        .then(pl.lit(SURVIVAL_TIME_OUT_OF_RANGE))
        .when(dead & has_death & (death < 0))
        .then(pl.lit(NEGATIVE_SURVIVAL_TIME))
        .when(dead & ~has_death)
        .then(pl.lit(DEAD_WITHOUT_DEATH_DAY))
        .when(alive & has_death)
        .then(pl.lit(ALIVE_WITH_DEATH_DAY))
        .when(unreported & has_death & (death < 0))
        .then(pl.lit(NEGATIVE_SURVIVAL_TIME))
        .when(has_death & follow_up_after_death)
        .then(pl.lit(FOLLOW_UP_AFTER_DEATH))
        .when(negative_fu)
        .then(pl.lit(NEGATIVE_SURVIVAL_TIME))
    )
    rejection_field = (
        pl.when(death_out_of_range)
        .then(pl.col("days_to_death_field"))
        .when(follow_up_out_of_range)
        .then(pl.col("last_follow_up_field"))
        .when(dead & ~has_death)
        .then(pl.col("days_to_death_field"))
        .when(has_death & ((death < 0) | alive))
        .then(pl.col("days_to_death_field"))
        .when(has_death & follow_up_after_death)
        .then(pl.col("last_follow_up_field"))
        .otherwise(pl.col("negative_follow_up_field"))
    )
    rejection_value = (
        pl.when(death_out_of_range)
        .then(death.cast(pl.String))
        .when(follow_up_out_of_range)
        .then(last_fu.cast(pl.String))
        .when(dead & ~has_death)
        .then(pl.lit(None, dtype=pl.String))
        .when(has_death & ((death < 0) | alive))
        .then(death.cast(pl.String))
        .when(has_death & follow_up_after_death)
        .then(last_fu.cast(pl.String))
        .otherwise(pl.col("negative_follow_up_days").cast(pl.String))
    )
    rule = (
        pl.when(dead & has_death)
        .then(pl.lit(DEATH_DAY))
        .when(unreported & has_death)
        .then(pl.lit(DEATH_DAY_VITAL_STATUS_UNREPORTED))
        .when(alive & last_fu.is_not_null())
        .then(pl.lit(LAST_FOLLOW_UP))
        .when(unreported & last_fu.is_not_null())
        .then(pl.lit(LAST_FOLLOW_UP_VITAL_STATUS_UNREPORTED))
        .otherwise(pl.lit(NO_FOLLOW_UP))
    )
    event_branch = has_death & (dead | unreported)
    return (
        frame.with_columns(rejection.alias("survival_rejection"))
        .with_columns(
            pl.when(pl.col("survival_rejection").is_not_null()).then(rejection_field).alias("survival_rejection_field"),
            pl.when(pl.col("survival_rejection").is_not_null()).then(rejection_value).alias("survival_rejection_value"),
            pl.when(pl.col("survival_rejection").is_null()).then(rule).alias("survival_rule"),
            pl.when(pl.col("survival_rejection").is_not_null())
            .then(None)
            .when(event_branch)
            .then(death)
            .otherwise(last_fu)
            .cast(pl.Float64)
            .alias("overall_survival_days"),
        )
        .with_columns(
            pl.when(pl.col("survival_rejection").is_not_null() | pl.col("overall_survival_days").is_null())
            .then(pl.lit(None, dtype=pl.Boolean))
            .otherwise(event_branch)
            .alias("death_observed"),
        )
    )


def survival_endpoint(
    vital_status: str | None,
    days_to_death: float | None,
    follow_up_days: dict[str, list[float]] | None = None,
    days_to_death_field: str = "demographic.days_to_death",
) -> dict[str, object]:
    """The rule for one case (same code path as the table version; for tests and explanations).

    `follow_up_days` maps a FOLLOW_UP_FIELDS path to its recorded days.
    """
    long_rows = [(0, field, float(days)) for field, values in (follow_up_days or {}).items() for days in values]
    follow_ups_long = pl.DataFrame(long_rows, schema=FOLLOW_UP_LONG_SCHEMA, orient="row")
    frame = pl.DataFrame(
        {
            "vital_status": [vital_status],
            "days_to_death": [days_to_death],
            "days_to_death_field": [days_to_death_field],
        },
        schema={"vital_status": pl.String, "days_to_death": pl.Float64, "days_to_death_field": pl.String},
    ).with_row_index("row")
    frame = frame.join(follow_up_summary(follow_ups_long, 1), on="row", how="left")
    out = overall_survival(frame).row(0, named=True)
    return {
        key: out[key]
        for key in (
            "overall_survival_days",
            "death_observed",
            "survival_rule",
            "survival_rejection",
            "survival_rejection_field",
            "survival_rejection_value",
        )
    }
