"""Harmonised patients + molecular markers -> the model matrix (`features/model_matrix`).

One row per case and release. Feature columns are Float64 (booleans and `mutant`/`wildtype` become
1.0/0.0); a missing value stays null, because LightGBM routes missing values itself and an imputed
value would pretend knowledge we do not have.

Label columns travel in the same frame, under names that say they are labels (`label_gbm`,
`label_who_grade`, `overall_survival_days`, `death_observed`), and the per-task feature lists below
are the only columns a model may read. The grading lists exclude everything that encodes the grading
label: project, primary diagnosis, histology family, WHO grade (tumour grade or its CNS5 derivation),
and treatments (which are chosen *after* the diagnosis, so they encode it: GBM patients get
radio-chemotherapy by protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from contracts.features import (
    BOOL_MARKER_FEATURES,
    EXPRESSION_SIGNATURES,
    FEATURE_SET_VERSION,
    FEATURE_SETS,
    GENES_COVERED_BY_STATUS,
    KEY_COLUMNS,
    MOLECULAR_TYPE_CLASSES,
    STATUS_FEATURES,
    TREATMENT_FEATURES,
)
from contracts.panels import SSM_PANEL_GENES

_MUTATION_VOCABULARY = frozenset({"mutant", "wildtype"})
_SEX_VOCABULARY = frozenset({"female", "male"})
_GBM_PROJECTS = {"TCGA-GBM": 1, "TCGA-LGG": 0}


class FeatureInputError(ValueError):
    """An input value the feature matrix cannot encode (names case, field and value)."""


@dataclass(frozen=True)
class ModelMatrix:
    matrix: pl.DataFrame  # keys + labels + every feature column
    feature_set_version: str
    feature_sets: dict[str, tuple[str, ...]]
    # cases with a marker row but no patient row (quarantined patients): not in the matrix
    markers_without_patient: list[str] = field(default_factory=list)

    def features(self, task: str) -> tuple[str, ...]:
        return self.feature_sets[task]


def _require_columns(frame: pl.DataFrame, columns: tuple[str, ...] | list[str], table: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise FeatureInputError(f"{table} lacks column(s) {missing} required by the feature matrix")


def _check_unique_cases(frame: pl.DataFrame, table: str) -> None:
    duplicated = frame.filter(pl.struct("release", "case_id").is_duplicated())
    if duplicated.height:
        row = duplicated.row(0, named=True)
        raise FeatureInputError(
            f"{table} has {duplicated.height} rows with a repeated (release, case_id), e.g. case {row['case_id']} "
            f"in release {row['release']}: the matrix needs one row per case"
        )


def _check_vocabulary(frame: pl.DataFrame, column: str, allowed: frozenset[str], table: str) -> None:
    bad = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(sorted(allowed)))
    if bad.height:
        row = bad.row(0, named=True)
        raise FeatureInputError(
            f"{table}: case {row['case_id']} field {column} has value {row[column]!r}, "
            f"expected one of {sorted(allowed)} or null ({bad.height} such rows)"
        )


def _mutant_flag(column: str) -> pl.Expr:
    return pl.when(pl.col(column) == "mutant").then(1.0).when(pl.col(column) == "wildtype").then(0.0).otherwise(None)


def build_model_matrix(
    patients: pl.DataFrame,
    markers: pl.DataFrame,
    signatures: pl.DataFrame | None = None,
    typing_scores: pl.DataFrame | None = None,
) -> ModelMatrix:
    """The model matrix of one release: patients left-joined to markers on (release, case_id).

    A patient without a marker row keeps null markers (unknown, not wild type). A marker row without a
    patient (its case was quarantined by the patients harmonisation) is left out and listed in
    `markers_without_patient`. `signatures` (case_id + the EXPRESSION_SIGNATURES columns, analyses.signatures) and
    `typing_scores` (case_id + probability_<molecular type>, the typing champion's scores of the release) add the
    omics features; without them those columns are null.
    """
    status_columns = list(STATUS_FEATURES.values())
    mutation_source = [f"mutation_{gene.lower()}" for gene in SSM_PANEL_GENES if gene not in GENES_COVERED_BY_STATUS]
    patient_columns = [
        *KEY_COLUMNS,
        "project_id",
        "sex",
        "age_at_diagnosis_years",
        "karnofsky_score",
        "who_grade",
        *TREATMENT_FEATURES,
        "overall_survival_days",
        "death_observed",
    ]
    marker_columns = [
        "release",
        "case_id",
        *status_columns,
        *BOOL_MARKER_FEATURES,
        "mgmt_stp27_probability",
        *mutation_source,
    ]
    _require_columns(patients, patient_columns, "harmonised/patients")
    _require_columns(markers, marker_columns, "harmonised/molecular_markers")
    _check_unique_cases(patients, "harmonised/patients")
    _check_unique_cases(markers, "harmonised/molecular_markers")
    _check_vocabulary(patients, "sex", _SEX_VOCABULARY, "harmonised/patients")
    for column in (*status_columns, *mutation_source):
        _check_vocabulary(markers, column, _MUTATION_VOCABULARY, "harmonised/molecular_markers")

    # Markers are called for every raw case, patients only for those that passed harmonisation: a
    # marker row whose patient is quarantined has no row here, and is listed rather than dropped silently.
    orphans = markers.join(patients.select("release", "case_id"), on=["release", "case_id"], how="anti")
    bad_grade = patients.filter(pl.col("who_grade").is_not_null() & ~pl.col("who_grade").is_in([2, 3, 4]))
    if bad_grade.height:
        row = bad_grade.row(0, named=True)
        raise FeatureInputError(
            f"harmonised/patients: case {row['case_id']} field who_grade has value {row['who_grade']!r}, expected 2, 3, 4 or null"
        )

    joined = patients.select(patient_columns).join(
        markers.select(marker_columns), on=["release", "case_id"], how="left"
    )
    matrix = joined.select(
        *KEY_COLUMNS,
        # labels
        pl.col("project_id").replace_strict(_GBM_PROJECTS, default=None, return_dtype=pl.Int8).alias("label_gbm"),
        pl.col("who_grade").cast(pl.Int8).alias("label_who_grade"),
        pl.col("overall_survival_days").cast(pl.Float64),
        pl.col("death_observed").cast(pl.Boolean),
        # features
        pl.col("age_at_diagnosis_years").cast(pl.Float64),
        pl.when(pl.col("sex") == "male")
        .then(1.0)
        .when(pl.col("sex") == "female")
        .then(0.0)
        .otherwise(None)
        .alias("sex_male"),
        pl.col("karnofsky_score").cast(pl.Float64),
        *[_mutant_flag(source).alias(feature) for feature, source in STATUS_FEATURES.items()],
        *[pl.col(column).cast(pl.Float64) for column in BOOL_MARKER_FEATURES],
        pl.col("mgmt_stp27_probability").cast(pl.Float64),
        *[_mutant_flag(column).alias(column) for column in mutation_source],
        pl.col("who_grade").cast(pl.Float64),
        *[pl.col(column).cast(pl.Float64) for column in TREATMENT_FEATURES],
    ).sort("release", "case_id")
    matrix = _with_omics(matrix, signatures, typing_scores)
    return ModelMatrix(
        matrix=matrix,
        feature_set_version=FEATURE_SET_VERSION,
        feature_sets=dict(FEATURE_SETS),
        markers_without_patient=sorted(orphans["case_id"].to_list()),
    )


def _check_one_row_per_case(frame: pl.DataFrame, table: str) -> None:
    duplicated = frame.filter(pl.col("case_id").is_duplicated())["case_id"].unique().sort()
    if duplicated.len():
        raise FeatureInputError(f"{table}: case(s) {duplicated.head(5).to_list()} appear more than once")


def _with_omics(
    matrix: pl.DataFrame, signatures: pl.DataFrame | None, typing_scores: pl.DataFrame | None
) -> pl.DataFrame:
    names = list(EXPRESSION_SIGNATURES)
    if signatures is None:
        signatures = pl.DataFrame(schema={"case_id": pl.String, **dict.fromkeys(names, pl.Float64)})
    _require_columns(signatures, ["case_id", *names], "expression signatures")
    _check_one_row_per_case(signatures, "expression signatures")
    wildtype, codeleted, non_codeleted = (f"probability_{name}" for name in MOLECULAR_TYPE_CLASSES)
    if typing_scores is None:
        typing_scores = pl.DataFrame(
            schema={"case_id": pl.String, **dict.fromkeys([wildtype, codeleted, non_codeleted], pl.Float64)}
        )
    _require_columns(typing_scores, ["case_id", wildtype, codeleted, non_codeleted], "scores/molecular_type")
    _check_one_row_per_case(typing_scores, "scores/molecular_type")
    typed = typing_scores.select(
        "case_id",
        (1.0 - pl.col(wildtype)).alias("_p_idh_mutant"),
        pl.col(codeleted).alias("_p_codeleted"),
        (pl.col(codeleted) / (pl.col(codeleted) + pl.col(non_codeleted))).alias("_p_codeleted_if_mutant"),
    )
    return (
        matrix.join(
            signatures.select("case_id", *(pl.col(n).cast(pl.Float64) for n in names)), on="case_id", how="left"
        )
        .join(typed, on="case_id", how="left")
        .with_columns(
            pl.when(pl.col("idh_mutant").is_null())
            .then(pl.col("_p_idh_mutant"))
            .alias("idh_mutant_predicted_probability"),
            # 1p/19q codeletion is defined among IDH-mutant gliomas: conditional on IDH mutant where that is known.
            pl.when(pl.col("codeletion_1p19q").is_null())
            .then(
                pl.when(pl.col("idh_mutant") == 1.0)
                .then(pl.col("_p_codeleted_if_mutant"))
                .otherwise(pl.col("_p_codeleted"))
            )
            .alias("codeletion_predicted_probability"),
        )
        .drop("_p_idh_mutant", "_p_codeleted", "_p_codeleted_if_mutant")
    )


def feature_list_table(model_matrix: ModelMatrix) -> pl.DataFrame:
    """The recorded feature list: one row per (task, feature) with the feature-set version."""
    rows = [
        {
            "feature_set_version": model_matrix.feature_set_version,
            "task": task,
            "position": position,
            "feature": feature,
        }
        for task, features in sorted(model_matrix.feature_sets.items())
        for position, feature in enumerate(features)
    ]
    return pl.DataFrame(
        rows, schema={"feature_set_version": pl.String, "task": pl.String, "position": pl.Int32, "feature": pl.String}
    )
