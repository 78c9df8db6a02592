"""features/model_matrix: encoding, missing values, input errors and label leakage."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from _model_cohort import synthetic_cohort  # noqa: E402

from contracts.features import (
    FEATURE_SET_VERSION,
    FEATURE_SETS,
    GRADING_FEATURES,
    GRADING_LABEL_DERIVED_COLUMNS,
    SURVIVAL_FEATURES,
)
from transforms.features import FeatureInputError, build_model_matrix, feature_list_table


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort(120, seed=5)


def test_matrix_has_one_row_per_case_with_keys_labels_and_every_feature(cohort):
    patients, markers = cohort
    model_matrix = build_model_matrix(patients, markers)
    matrix = model_matrix.matrix
    assert matrix.height == patients.height and matrix["case_id"].n_unique() == patients.height
    for column in ("release", "case_id", "label_gbm", "label_who_grade", "overall_survival_days", "death_observed"):
        assert column in matrix.columns
    for feature in set(GRADING_FEATURES) | set(SURVIVAL_FEATURES):
        assert matrix.schema[feature] == pl.Float64, feature
    assert model_matrix.feature_set_version == FEATURE_SET_VERSION
    gbm = matrix.join(patients.select("case_id", "project_id"), on="case_id")
    assert (gbm["label_gbm"] == (gbm["project_id"] == "TCGA-GBM").cast(pl.Int8)).all()


def test_mutant_wildtype_and_booleans_become_one_zero_and_missing_stays_missing(cohort):
    patients, markers = cohort
    idh = {"case-00000": None, "case-00001": "mutant", "case-00002": "wildtype"}
    markers = markers.with_columns(
        pl.col("case_id").replace_strict(idh, default=pl.col("idh_status"), return_dtype=pl.String).alias("idh_status"),
        pl.when(pl.col("case_id") == "case-00000")
        .then(None)
        .otherwise(pl.col("mgmt_stp27_probability"))
        .alias("mgmt_stp27_probability"),
    )
    matrix = build_model_matrix(patients, markers).matrix.sort("case_id")
    assert matrix["idh_mutant"][:3].to_list() == [None, 1.0, 0.0]
    assert matrix["mgmt_stp27_probability"][0] is None
    # A patient with no marker row at all keeps null markers (unknown is not wild type).
    matrix = build_model_matrix(patients, markers.filter(pl.col("case_id") != "case-00003")).matrix.sort("case_id")
    row = matrix.row(3, named=True)
    assert row["case_id"] == "case-00003"
    assert all(row[f] is None for f in ("idh_mutant", "codeletion_1p19q", "mgmt_stp27_probability", "mutation_egfr"))
    assert row["age_at_diagnosis_years"] is not None


def test_grading_feature_lists_contain_no_label_derived_column():
    for task in ("grading_gbm_vs_lgg", "grading_who_grade"):
        assert not set(FEATURE_SETS[task]) & GRADING_LABEL_DERIVED_COLUMNS, task


def test_grading_features_do_not_change_when_the_grading_labels_are_scrambled(cohort):
    """If any label-derived column fed a grading feature, scrambling the labels would move it."""
    patients, markers = cohort
    rng = np.random.default_rng(0)
    scrambled = patients.with_columns(
        pl.Series("project_id", rng.permutation(patients["project_id"].to_numpy())),
        pl.Series("primary_diagnosis", rng.permutation(patients["primary_diagnosis"].to_numpy())),
        pl.Series("histology_family", rng.permutation(patients["histology_family"].to_numpy())),
        pl.Series("who_grade", rng.permutation(patients["who_grade"].to_numpy())),
        pl.Series("received_radiation", rng.permutation(patients["received_radiation"].to_numpy())),
        pl.Series("received_temozolomide", rng.permutation(patients["received_temozolomide"].to_numpy())),
        pl.Series("received_chemotherapy", rng.permutation(patients["received_chemotherapy"].to_numpy())),
    )
    original = build_model_matrix(patients, markers).matrix
    changed = build_model_matrix(scrambled, markers).matrix
    features = list(GRADING_FEATURES)
    assert original.select("case_id", *features).equals(changed.select("case_id", *features))
    # ...while the labels themselves did move (so the check can fail).
    assert not original["label_gbm"].equals(changed["label_gbm"])


def test_unknown_marker_vocabulary_is_an_error_naming_case_field_and_value(cohort):
    patients, markers = cohort
    bad = markers.with_columns(
        pl.when(pl.col("case_id") == "case-00007")
        .then(pl.lit("Mutated"))
        .otherwise(pl.col("idh_status"))
        .alias("idh_status")
    )
    with pytest.raises(FeatureInputError, match=r"case-00007.*idh_status.*'Mutated'"):
        build_model_matrix(patients, bad)


def test_marker_rows_of_quarantined_patients_are_listed_not_silently_dropped(cohort):
    patients, markers = cohort
    model_matrix = build_model_matrix(patients.filter(pl.col("case_id") != "case-00009"), markers)
    assert model_matrix.markers_without_patient == ["case-00009"]
    assert "case-00009" not in model_matrix.matrix["case_id"].to_list()


def test_duplicate_cases_and_missing_columns_are_errors(cohort):
    patients, markers = cohort
    with pytest.raises(FeatureInputError, match="case-00000"):
        build_model_matrix(pl.concat([patients, patients.head(1)]), markers)
    with pytest.raises(FeatureInputError, match="lacks column"):
        build_model_matrix(patients.drop("karnofsky_score"), markers)


def test_feature_list_table_records_every_task_feature_with_the_version(cohort):
    table = feature_list_table(build_model_matrix(*cohort))
    assert set(table["feature_set_version"]) == {FEATURE_SET_VERSION}
    assert table.filter(pl.col("task") == "survival_risk")["feature"].to_list() == list(SURVIVAL_FEATURES)


def test_the_typing_output_fills_only_missing_markers_and_signatures_join_by_case(cohort):
    from contracts.features import EXPRESSION_SIGNATURES, MOLECULAR_TYPE_CLASSES

    patients, markers = cohort
    cases = markers["case_id"].to_list()
    markers = markers.with_columns(
        idh_status=pl.when(pl.col("case_id").is_in(cases[:10])).then(None).otherwise("idh_status"),
        codeletion_1p19q=pl.when(pl.col("case_id").is_in(cases[5:15])).then(None).otherwise("codeletion_1p19q"),
    )
    typing = pl.DataFrame(
        {
            "case_id": cases,
            **{
                f"probability_{c}": [p] * len(cases)
                for c, p in zip(MOLECULAR_TYPE_CLASSES, (0.2, 0.6, 0.2), strict=True)
            },
        }
    )
    signatures = pl.DataFrame({"case_id": cases[:30], **{name: [4.0] * 30 for name in EXPRESSION_SIGNATURES}})
    matrix = build_model_matrix(patients, markers, signatures=signatures, typing_scores=typing).matrix
    rows = {row["case_id"]: row for row in matrix.iter_rows(named=True)}
    # Predicted exactly where the call is missing; where it is known the marker column holds it and this one is null.
    assert all(rows[c]["idh_mutant"] is None for c in cases[:10])
    for case in cases:
        row = rows[case]
        assert (row["idh_mutant_predicted_probability"] is None) == (row["idh_mutant"] is not None), case
        if row["idh_mutant"] is None:
            assert row["idh_mutant_predicted_probability"] == pytest.approx(0.8)
        assert (row["codeletion_predicted_probability"] is None) == (row["codeletion_1p19q"] is not None), case
        if row["codeletion_1p19q"] is None:
            expected = 0.75 if row["idh_mutant"] == 1.0 else 0.6  # given IDH mutant where that is known
            assert row["codeletion_predicted_probability"] == pytest.approx(expected), case
    assert all(rows[c]["signature_hypoxia"] == 4.0 for c in cases[:30])
    assert all(rows[c]["signature_hypoxia"] is None for c in cases[30:])
    with pytest.raises(FeatureInputError, match="more than once"):
        build_model_matrix(patients, markers, typing_scores=pl.concat([typing, typing.head(1)]))
