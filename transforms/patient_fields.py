"""The field readers of the patients transform (transforms.patients): vectorised polars over the raw text
columns of the one pass (transforms.patient_documents), one stage per field family — structure and ids,
demographics, vital status, age, histology, WHO grade, Karnofsky score, treatment flags, the survival endpoint.

Each reader returns a `Step` (transforms.patient_checks): the case frame with its new columns, and its error
rows (each rejects its case) and note rows. Vocabulary maps live in transforms.vocabularies, the survival
rule in transforms.survival.
"""

from __future__ import annotations

import polars as pl

from transforms import survival as surv
from transforms import vocabularies as vocab
from transforms.patient_checks import (
    AGE_OUT_OF_RANGE,
    DUPLICATE_SUBMITTER_ID,
    ERROR_SCHEMA,
    INVALID_BARCODE,
    INVALID_KARNOFSKY_SCORE,
    MISSING_REQUIRED_FIELD,
    UNMAPPED_VALUE,
    Step,
    error_frame,
    lookup_key,
    mapped,
    number,
    number_errors,
    unmapped,
    with_keys,
)
from transforms.patient_documents import Extraction, Parsed

TCGA_PATIENT_BARCODE = r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$"

MAX_AGE_YEARS = 120.0
DAYS_PER_YEAR = 365.25

_TREATMENT_COLUMNS = ("treatment_type", "treatment_or_therapy", "therapeutic_agents")


def structural_errors(parsed: Parsed) -> Step:
    """Errors of the pass (invalid JSON, malformed entities), missing required ids and non-TCGA barcodes."""
    frame = parsed.frame
    errors = [
        pl.DataFrame(parsed.extraction.errors, schema=ERROR_SCHEMA, orient="row"),
        error_frame(
            frame,
            pl.col("submitter_id").is_null(),
            "submitter_id",
            pl.col("submitter_id"),
            MISSING_REQUIRED_FIELD,
            "is required (TCGA barcode)",
        ),
        error_frame(
            frame,
            pl.col("project_id").is_null(),
            "project.project_id",
            pl.col("project_id"),
            MISSING_REQUIRED_FIELD,
            "is required",
        ),
        # The patient barcode is the join key to every TCGA table (CDR, Ceccarelli, MAF barcodes' first 12).
        error_frame(
            frame,
            (
                pl.col("project_id").str.starts_with("TCGA-")
                & ~pl.col("submitter_id").str.contains(TCGA_PATIENT_BARCODE)
            ).fill_null(False),
            "submitter_id",
            pl.col("submitter_id"),
            INVALID_BARCODE,
            "is not a TCGA patient barcode (TCGA-XX-XXXX)",
        ),
        # Two cases under one barcode: which of them a barcode lookup (and every TCGA table joined on it) means
        # cannot be told, so neither is published.
        error_frame(
            frame,
            (pl.col("submitter_id").is_not_null() & (pl.len().over("release", "submitter_id") > 1)),
            "submitter_id",
            pl.col("submitter_id"),
            DUPLICATE_SUBMITTER_ID,
            "is also the barcode of another case of this release (which patient it names cannot be told)",
        ),
    ]
    return Step(frame, errors, [])


def read_demographics(frame: pl.DataFrame) -> Step:
    """Sex (sex_at_birth, else gender: gone after API 8.5, absent before 2025), race, ethnicity, mapped."""
    sex_at_birth = mapped(vocab.SEX, "sex_at_birth")
    frame = frame.with_columns(
        pl.coalesce(sex_at_birth, mapped(vocab.SEX, "gender")).alias("sex"),
        mapped(vocab.RACE, "race").alias("race_mapped"),
        mapped(vocab.ETHNICITY, "ethnicity").alias("ethnicity_mapped"),
    )
    errors = [
        unmapped(frame, "sex_at_birth", vocab.SEX, "demographic.sex_at_birth"),
        unmapped(frame, "gender", vocab.SEX, "demographic.gender", only_when=sex_at_birth.is_null()),
        unmapped(frame, "race", vocab.RACE, "demographic.race"),
        unmapped(frame, "ethnicity", vocab.ETHNICITY, "demographic.ethnicity"),
    ]
    return Step(frame, errors, [])


def read_vital_status(frame: pl.DataFrame) -> Step:
    """Vital status and death day from the demographic (DR17 on), else the primary diagnosis (before DR17)."""
    vital_demographic = mapped(vocab.VITAL_STATUS, "vital_status_demographic")
    vital_diagnosis = mapped(vocab.VITAL_STATUS, "vital_status_diagnosis")
    death_demographic = number("days_to_death_demographic")
    death_diagnosis = number("days_to_death_diagnosis")
    frame = frame.with_columns(
        pl.coalesce(vital_demographic, vital_diagnosis).alias("vital_status"),
        pl.coalesce(death_demographic, death_diagnosis).alias("days_to_death"),
        pl.when(death_demographic.is_not_null())
        .then(pl.lit("demographic.days_to_death"))
        .when(death_diagnosis.is_not_null())
        .then(pl.lit("diagnoses.days_to_death"))
        .when(vital_demographic.is_null() & vital_diagnosis.is_not_null())
        .then(pl.lit("diagnoses.days_to_death"))
        .otherwise(pl.lit("demographic.days_to_death"))
        .alias("days_to_death_field"),
    )
    errors = [
        unmapped(frame, "vital_status_demographic", vocab.VITAL_STATUS, "demographic.vital_status"),
        unmapped(
            frame,
            "vital_status_diagnosis",
            vocab.VITAL_STATUS,
            "diagnoses.vital_status",
            only_when=vital_demographic.is_null(),
        ),
        number_errors(frame, "days_to_death_demographic", "demographic.days_to_death", "is not a number of days"),
        number_errors(
            frame,
            "days_to_death_diagnosis",
            "diagnoses.days_to_death",
            "is not a number of days",
            only_when=death_demographic.is_null(),
        ),
    ]
    notes = [
        frame.filter(
            vital_demographic.is_not_null() & vital_diagnosis.is_not_null() & (vital_demographic != vital_diagnosis)
        ).select(
            "row",
            pl.lit("diagnoses.vital_status").alias("field"),
            pl.col("vital_status_diagnosis").alias("value"),
            pl.format(
                "differs from demographic.vital_status {}; demographic (the current home) used",
                "vital_status_demographic",
            ).alias("note"),
        )
    ]
    return Step(frame, errors, notes)


def read_age(frame: pl.DataFrame) -> Step:
    """Age in years: age_at_diagnosis (days) / 365.25, else age_at_index (years); outside 0-120 is an error."""
    age_from_diagnosis = number("age_at_diagnosis") / DAYS_PER_YEAR
    age_from_index = number("age_at_index")
    frame = frame.with_columns(
        pl.coalesce(age_from_diagnosis, age_from_index).alias("age_at_diagnosis_years"),
        pl.when(age_from_diagnosis.is_not_null())
        .then(pl.lit("diagnoses.age_at_diagnosis"))
        .otherwise(pl.lit("demographic.age_at_index"))
        .alias("_age_field"),
        pl.when(age_from_diagnosis.is_not_null())
        .then(pl.col("age_at_diagnosis"))
        .otherwise(pl.col("age_at_index"))
        .alias("_age_raw"),
    )
    age = pl.col("age_at_diagnosis_years")
    errors = [
        number_errors(frame, "age_at_diagnosis", "diagnoses.age_at_diagnosis", "is not a number of days"),
        number_errors(
            frame,
            "age_at_index",
            "demographic.age_at_index",
            "is not a number of years",
            only_when=age_from_diagnosis.is_null(),
        ),
        error_frame(
            frame,
            ((age < 0) | (age > MAX_AGE_YEARS) | age.is_nan()).fill_null(False),
            pl.col("_age_field"),
            pl.col("_age_raw"),
            AGE_OUT_OF_RANGE,
            pl.format("gives an age of {} years, outside 0-120", age.round(1)),
        ),
    ]
    return Step(frame, errors, [])


def read_histology(frame: pl.DataFrame) -> Step:
    """Histology family from primary_diagnosis, else from the ICD-O morphology when the text holds no histology."""
    # No histology: missing, sentinel, or the 2017 model's ICD-O topography code such as `c71.9`.
    diagnosis_text = pl.col("primary_diagnosis")
    is_topography = diagnosis_text.str.strip_chars().str.contains(vocab.ICDO_TOPOGRAPHY_PATTERN).fill_null(False)
    family_from_text = mapped(vocab.PRIMARY_DIAGNOSIS, "primary_diagnosis")
    family_from_morphology = pl.coalesce(
        mapped(vocab.MORPHOLOGY, "morphology"),
        pl.when(pl.col("morphology").str.strip_chars().str.contains(vocab.ICDO_MORPHOLOGY_PATTERN)).then(
            pl.lit("other")
        ),
    )
    uses_morphology = family_from_text.is_null()
    frame = frame.with_columns(
        pl.coalesce(family_from_text, family_from_morphology).alias("histology_family"),
    )
    morphology_unmapped = vocab.MORPHOLOGY.unmapped_expr(pl.col(lookup_key("morphology")), normalised=True) & ~pl.col(
        "morphology"
    ).str.strip_chars().str.contains(vocab.ICDO_MORPHOLOGY_PATTERN).fill_null(False)
    errors = [
        unmapped(
            frame, "primary_diagnosis", vocab.PRIMARY_DIAGNOSIS, "diagnoses.primary_diagnosis", only_when=~is_topography
        ),
        error_frame(
            frame,
            morphology_unmapped & uses_morphology,
            "diagnoses.morphology",
            pl.col("morphology"),
            UNMAPPED_VALUE,
            "is not an ICD-O-3 morphology code (####/#)",
        ),
    ]
    notes = [
        frame.filter(is_topography).select(
            "row",
            pl.lit("diagnoses.primary_diagnosis").alias("field"),
            pl.col("primary_diagnosis").alias("value"),
            pl.when(pl.col("histology_family").is_not_null())
            .then(
                pl.format(
                    "is an ICD-O topography (site) code, not a histology; histology family {} read from morphology {}",
                    "histology_family",
                    "morphology",
                )
            )
            .otherwise(
                pl.lit("is an ICD-O topography (site) code, not a histology, and no morphology code: histology unknown")
            )
            .alias("note"),
        )
    ]
    return Step(frame, errors, notes)


def read_who_grade(frame: pl.DataFrame) -> Step:
    """WHO grade from tumor_grade G2-G4, else the project when it implies one (GBM -> 4), else null and why."""
    tumor_grade = mapped(vocab.TUMOR_GRADE, "tumor_grade")
    grade_from_tumor = tumor_grade.replace_strict(vocab.WHO_GRADE_BY_TUMOR_GRADE, default=None, return_dtype=pl.Int8)
    grade_from_project = pl.col("project_id").replace_strict(
        vocab.PROJECT_IMPLIED_WHO_GRADE, default=None, return_dtype=pl.Int8
    )
    grade_missing_why = (
        pl.when(pl.col("tumor_grade").is_null())
        .then(pl.lit("tumor_grade absent"))
        .when(pl.col(lookup_key("tumor_grade")).is_in(list(vocab.SENTINELS)))
        .then(pl.format("tumor_grade is the sentinel '{}'", "tumor_grade"))
        .otherwise(pl.format("tumor_grade '{}' is not a WHO CNS grade 2-4", "tumor_grade"))
    )
    frame = frame.with_columns(
        pl.coalesce(grade_from_tumor, grade_from_project).alias("who_grade"),
        pl.when(grade_from_tumor.is_not_null())
        .then(pl.lit("tumor_grade"))
        .when(grade_from_project.is_not_null())
        .then(pl.lit("project_gbm"))
        .alias("who_grade_source"),
        pl.when(grade_from_tumor.is_null() & grade_from_project.is_null())
        .then(
            pl.format(
                "{} and project {} does not imply a grade", grade_missing_why, pl.col("project_id").fill_null("?")
            )
        )
        .alias("who_grade_missing_reason"),
    )
    errors = [unmapped(frame, "tumor_grade", vocab.TUMOR_GRADE, "diagnoses.tumor_grade")]
    notes = [
        frame.filter(
            (
                grade_from_project.is_not_null()
                & grade_from_tumor.is_not_null()
                & (grade_from_project != grade_from_tumor)
            ).fill_null(False)
        ).select(
            "row",
            pl.lit("diagnoses.tumor_grade").alias("field"),
            pl.col("tumor_grade").alias("value"),
            pl.format("project {} implies grade {}; tumor_grade used", "project_id", grade_from_project).alias("note"),
        )
    ]
    return Step(frame, errors, notes)


def read_karnofsky(frame: pl.DataFrame) -> Step:
    """Karnofsky score: the earliest recorded one (chosen in the pass), which must be an integer 0-100."""
    karnofsky = number("karnofsky")
    karnofsky_valid = (karnofsky >= 0) & (karnofsky <= 100) & (karnofsky == karnofsky.round(0))
    frame = frame.with_columns(pl.when(karnofsky_valid).then(karnofsky).cast(pl.Int16).alias("karnofsky_score"))
    errors = [
        error_frame(
            frame,
            pl.col("karnofsky").is_not_null() & ~karnofsky_valid.fill_null(False),
            "follow_ups.karnofsky_performance_status",
            pl.col("karnofsky"),
            INVALID_KARNOFSKY_SCORE,
            "is not an integer score 0-100",
        )
    ]
    return Step(frame, errors, [])


def read_treatments(frame: pl.DataFrame, extraction: Extraction) -> Step:
    """The three treatment flags per case from the primary diagnosis's treatment records, which must map."""
    treatments = pl.DataFrame(
        {
            "row": extraction.treatment_rows,
            "treatment_type": extraction.treatment_types,
            "treatment_or_therapy": extraction.treatment_given,
            "therapeutic_agents": extraction.treatment_agents,
        },
        schema={
            "row": pl.UInt32,
            "treatment_type": pl.String,
            "treatment_or_therapy": pl.String,
            "therapeutic_agents": pl.String,
        },
    )
    treatments = with_keys(treatments, _TREATMENT_COLUMNS)
    errors = [
        unmapped(treatments, "treatment_type", vocab.TREATMENT_TYPE, "diagnoses.treatments.treatment_type"),
        unmapped(treatments, "treatment_or_therapy", vocab.YES_NO, "diagnoses.treatments.treatment_or_therapy"),
        unmapped(treatments, "therapeutic_agents", vocab.THERAPEUTIC_AGENT, "diagnoses.treatments.therapeutic_agents"),
    ]
    frame = frame.join(_treatment_flags(treatments), on="row", how="left")
    return Step(frame, errors, [])


def _treatment_flags(treatments: pl.DataFrame) -> pl.DataFrame:
    """received_radiation / _chemotherapy / _temozolomide per case row from its treatment records.

    A record counts as given when treatment_or_therapy is yes (or is unrecorded but an agent is named),
    as not given when it is no. A flag is True if any record of its kind was given, False if records of
    its kind exist and say no (none yes), null when nothing was recorded. Temozolomide is False also when
    chemotherapy is known not given, or when every given chemotherapy names its agents and none is TMZ.
    """
    # Each mapping computed once into a column; the flag expressions below only read columns.
    treatments = treatments.with_columns(
        mapped(vocab.TREATMENT_TYPE, "treatment_type").alias("_category"),
        mapped(vocab.THERAPEUTIC_AGENT, "therapeutic_agents").alias("_agent"),
        mapped(vocab.YES_NO, "treatment_or_therapy").alias("_given_recorded"),
    ).with_columns(
        pl.coalesce(pl.col("_given_recorded"), pl.when(pl.col("_agent").is_not_null()).then(pl.lit(True))).alias(
            "_given"
        ),
    )
    category, agent, given = pl.col("_category"), pl.col("_agent"), pl.col("_given")
    is_radiation = category.is_in([vocab.RADIATION, vocab.CHEMORADIATION]).fill_null(False)
    is_chemo = category.is_in([vocab.CHEMOTHERAPY, vocab.CHEMORADIATION]).fill_null(False) | agent.is_in(
        [vocab.TEMOZOLOMIDE, vocab.CHEMOTHERAPY_AGENT]
    ).fill_null(False)
    # Map once per record, then aggregate plain boolean columns (expressions inside agg run per group).
    flags = (
        treatments.select(
            "row",
            (is_radiation & given).fill_null(False).alias("_radiation_yes"),
            (is_radiation & ~given).fill_null(False).alias("_radiation_no"),
            (is_chemo & given).fill_null(False).alias("_chemo_yes"),
            (is_chemo & ~given).fill_null(False).alias("_chemo_no"),
            ((agent == vocab.TEMOZOLOMIDE) & given).fill_null(False).alias("_tmz_yes"),
            (is_chemo & given & agent.is_null()).fill_null(False).alias("_chemo_agent_unnamed"),
        )
        .group_by("row")
        .agg(pl.all().any())
    )

    def flag(yes: str, no: str) -> pl.Expr:
        return pl.when(pl.col(yes)).then(pl.lit(True)).when(pl.col(no)).then(pl.lit(False))

    return flags.with_columns(
        flag("_radiation_yes", "_radiation_no").alias("received_radiation"),
        flag("_chemo_yes", "_chemo_no").alias("received_chemotherapy"),
    ).select(
        "row",
        "received_radiation",
        "received_chemotherapy",
        pl.when(pl.col("_tmz_yes"))
        .then(pl.lit(True))
        .when(pl.col("received_chemotherapy") == False)  # noqa: E712 (a polars expression, not a Python comparison)
        .then(pl.lit(False))
        .when(pl.col("_chemo_yes") & ~pl.col("_chemo_agent_unnamed"))
        .then(pl.lit(False))
        .alias("received_temozolomide"),
    )


_SURVIVAL_EXPLANATIONS = {
    surv.NEGATIVE_SURVIVAL_TIME: "is a negative number of days (before diagnosis)",
    surv.SURVIVAL_TIME_OUT_OF_RANGE: "is outside 0-32872 days (GDC's range for day fields) or not a finite number",
    surv.DEAD_WITHOUT_DEATH_DAY: "is missing although vital_status is Dead (no event time; not guessed)",
    surv.ALIVE_WITH_DEATH_DAY: "is recorded although vital_status is Alive (contradiction)",
    surv.FOLLOW_UP_AFTER_DEATH: "is a follow-up later than the death day (contact after death: one of them is wrong)",
}


def survival_endpoint(frame: pl.DataFrame, extraction: Extraction) -> Step:
    """Overall survival by the survival rule (transforms/survival.py) over death day and every follow-up day."""
    follow_up_text = pl.DataFrame(
        {"row": extraction.follow_up_rows, "field": extraction.follow_up_fields, "raw": extraction.follow_up_values},
        schema={"row": pl.UInt32, "field": pl.String, "raw": pl.String},
    )
    errors = [number_errors(follow_up_text, "raw", pl.col("field"), "is not a number of days")]
    follow_ups_long = follow_up_text.select("row", "field", number("raw").alias("days")).drop_nulls("days")
    frame = frame.join(surv.follow_up_summary(follow_ups_long, frame.height), on="row", how="left")
    frame = surv.overall_survival(frame)
    errors.append(
        frame.filter(pl.col("survival_rejection").is_not_null()).select(
            "row",
            pl.col("survival_rejection_field").alias("field"),
            pl.col("survival_rejection_value").alias("value"),
            pl.col("survival_rejection").alias("reason"),
            pl.col("survival_rejection")
            .replace_strict(_SURVIVAL_EXPLANATIONS, default="breaks the survival rule")
            .alias("explanation"),
        )
    )
    return Step(frame, errors, [])
