"""Molecular typing (models.molecular_typing): the label from the lake's marker calls, no marker among the features,
expression genes chosen inside the training fold only, every model on identical folds, and the quality on the real
dev cohort with and without expression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analyses.matrix import ExpressionMatrix
from contracts.features import MOLECULAR_TYPE_CLASSES, TYPING_EXCLUDED_COLUMNS
from models.molecular_typing import (
    LATE_FUSION,
    LIGHTGBM,
    TYPING_MODELS,
    ExpressionSelector,
    TypingData,
    TypingInputError,
    cross_validate_typing,
    pooled_metrics,
    typing_data,
    typing_frame,
)
from tests.models._model_cohort import synthetic_cohort

WILDTYPE, CODELETED, NON_CODELETED = MOLECULAR_TYPE_CLASSES


def test_the_label_comes_from_idh_and_1p19q_and_is_null_when_they_do_not_determine_it():
    patients, markers = synthetic_cohort(8, seed=1)
    calls = [
        ("wildtype", None, WILDTYPE),  # IDH-wildtype needs no 1p/19q call
        ("wildtype", True, WILDTYPE),
        ("mutant", True, CODELETED),
        ("mutant", False, NON_CODELETED),
        ("mutant", None, None),  # IDH-mutant without a 1p/19q call: undetermined
        (None, True, None),
        (None, None, None),
        ("wildtype", False, WILDTYPE),
    ]
    markers = markers.with_columns(
        idh_status=pl.Series([c[0] for c in calls], dtype=pl.String),
        codeletion_1p19q=pl.Series([c[1] for c in calls], dtype=pl.Boolean),
    )
    frame = typing_frame(patients, markers)
    expected = dict(zip(markers["case_id"], [c[2] for c in calls], strict=True))
    assert dict(zip(frame["case_id"], frame["molecular_type"], strict=True)) == expected
    # No feature column is a marker the model predicts, or derived from one.
    assert not (set(frame.columns) - {"case_id", "molecular_type"}) & TYPING_EXCLUDED_COLUMNS
    data = typing_data(frame)
    assert (data.label == -1).sum() == 3


def test_typing_data_refuses_a_predicted_marker_as_a_feature():
    with pytest.raises(TypingInputError, match=r"\['codeletion_1p19q', 'idh_mutant'\]"):
        TypingData(np.array(["a"]), np.array([0]), np.zeros((1, 2)), ("idh_mutant", "codeletion_1p19q"), None, ())


def test_a_bad_label_value_names_the_case_and_field():
    patients, markers = synthetic_cohort(20, seed=2)
    frame = typing_frame(patients, markers).with_columns(
        molecular_type=pl.when(pl.col("case_id") == "case-00003").then(pl.lit("oligo")).otherwise("molecular_type")
    )
    with pytest.raises(TypingInputError, match="case case-00003 field molecular_type has value 'oligo'"):
        typing_data(frame)


def test_expression_genes_are_chosen_on_the_training_rows_only():
    rng = np.random.default_rng(3)
    n = 120
    label = np.repeat([0, 1, 2], n // 3)
    expression = rng.normal(size=(n, 40))
    expression[:, 5] += 0.6 * label  # informative everywhere
    train = np.arange(n) % 2 == 0
    # Gene 9 separates the classes only among the held-out rows: a selector that peeked would pick it.
    expression[~train, 9] += 8.0 * label[~train]
    selector = ExpressionSelector(k=1).fit(expression[train], label[train])
    assert selector.genes.tolist() == [5]
    peeking = ExpressionSelector(k=1).fit(expression, label)
    assert peeking.genes.tolist() == [9]  # the planted trap is real
    # Patients without expression stay missing after the transform.
    expression[0] = np.nan
    assert np.isnan(selector.transform(expression)[0]).all()


def _planted_expression(frame: pl.DataFrame, share: float, seed: int) -> ExpressionMatrix:
    """Expression for a `share` of the patients: 3 genes follow the molecular type, 57 are noise."""
    rng = np.random.default_rng(seed)
    chosen = frame.filter(pl.Series(rng.random(frame.height) < share))
    label = (
        chosen.select(
            pl.col("molecular_type").replace_strict({c: k for k, c in enumerate(MOLECULAR_TYPE_CLASSES)}, default=0)
        )
        .to_series()
        .to_numpy()
    )
    values = rng.normal(5.0, 1.0, size=(chosen.height, 60))
    for k in range(3):
        values[:, k] += 2.5 * (label == k)
    genes = [f"ENSG{i:011d}" for i in range(60)]
    return ExpressionMatrix(chosen["case_id"].to_list(), genes, [f"GENE{i}" for i in range(60)], values, values)


def test_every_model_runs_on_identical_folds_and_recovers_a_planted_type():
    patients, markers = synthetic_cohort(360, seed=4)
    frame = typing_frame(patients, markers)
    data = typing_data(frame, _planted_expression(frame, share=0.6, seed=5))
    single_models = tuple(m for m in TYPING_MODELS if m != LATE_FUSION)  # fusion: tests/models/test_typing_fusion.py
    cv = cross_validate_typing(data, models=single_models, n_splits=3)
    assert cv.n_patients == int((data.label >= 0).sum())
    assert 0 < cv.n_with_expression < cv.n_patients
    # Identical folds: every model was tested on the same patients in the same fold.
    tested = cv.predictions.group_by("model").agg(pl.col("case_id").sort()).sort("model")
    assert all(ids == tested["case_id"][0].to_list() for ids in tested["case_id"].to_list())
    assert set(tested["model"]) == set(single_models)
    for model in single_models:
        with_rna = pooled_metrics(cv.predictions, model, pl.col("has_expression"))
        assert with_rna["roc_auc_macro"] > 0.9, (model, with_rna)
        row = cv.summary.filter(pl.col("model") == model, pl.col("metric") == "roc_auc_macro").row(0, named=True)
        assert row["low"] <= row["mean"] <= row["high"] <= 1.0 and row["folds"] == 3


@pytest.mark.realdata
def test_real_dev_typing_reaches_macro_auc_095_with_expression_and_states_it_without(real_rna_lake: Path):
    from assets.expression_analyses import read_matrix
    from contracts.tables import HARMONISED_MOLECULAR_MARKERS, HARMONISED_PATIENTS
    from lake.store import Lake

    store = Lake(real_rna_lake, finished=lambda writer: True)
    frame = typing_frame(
        store.read_table(HARMONISED_PATIENTS, "45.0"), store.read_table(HARMONISED_MOLECULAR_MARKERS, "45.0")
    )
    unlabelled = frame.filter(pl.col("molecular_type").is_null()).height
    assert unlabelled > 0  # the patients the model is for
    single_models = tuple(
        m for m in TYPING_MODELS if m != LATE_FUSION
    )  # late fusion's figure: bench/molecular_typing.py
    with_expression = cross_validate_typing(typing_data(frame, read_matrix(store, "45.0")), models=single_models)
    auc = pooled_metrics(with_expression.predictions, LIGHTGBM, pl.col("has_expression"))
    assert auc["n"] >= 400 and auc["roc_auc_macro"] >= 0.95, auc
    for model in single_models:  # the baselines on the same folds do the job too
        assert pooled_metrics(with_expression.predictions, model, pl.col("has_expression"))["roc_auc_macro"] >= 0.95
    without = cross_validate_typing(typing_data(frame), models=(LIGHTGBM,))
    assert pooled_metrics(without.predictions, LIGHTGBM)["roc_auc_macro"] >= 0.95


def test_the_fitted_model_scores_unprofiled_patients_and_says_which_it_trained_on():
    from models.molecular_typing import fit_typing, score_typing

    patients, markers = synthetic_cohort(300, seed=6)
    unprofiled = markers["case_id"][:30].to_list()
    markers = markers.with_columns(
        idh_status=pl.when(pl.col("case_id").is_in(unprofiled)).then(None).otherwise("idh_status")
    )
    frame = typing_frame(patients, markers)
    data = typing_data(frame, _planted_expression(frame, share=0.7, seed=7))
    cv = cross_validate_typing(data, models=(LIGHTGBM,), n_splits=3)
    scores = score_typing(fit_typing(data, cv), data)
    assert set(unprofiled) <= set(scores["case_id"])
    fresh = scores.filter(pl.col("case_id").is_in(unprofiled))
    assert fresh["molecular_type_from_markers"].null_count() == 30 and not fresh["trained_on_patient"].any()
    # Trained on exactly the patients whose markers give the type.
    assert (scores["trained_on_patient"] == scores["molecular_type_from_markers"].is_not_null()).all()
    probability = scores.select(f"probability_{c}" for c in MOLECULAR_TYPE_CLASSES).to_numpy()
    np.testing.assert_allclose(probability.sum(axis=1), 1.0, atol=1e-9)
    # The predicted class is in every non-empty conformal set, whose classes all have a probability.
    for row in scores.iter_rows(named=True):
        assert not row["prediction_set"] or row["predicted_molecular_type"] in row["prediction_set"]


def test_each_typing_call_is_explained_in_words_by_the_features_that_moved_it():
    from models.molecular_typing import explain_typing, fit_typing

    patients, markers = synthetic_cohort(240, seed=8)
    frame = typing_frame(patients, markers)
    data = typing_data(frame, _planted_expression(frame, share=1.0, seed=9))
    cv = cross_validate_typing(data, models=(LIGHTGBM,), n_splits=3)
    fitted = fit_typing(data, cv)
    cases = data.case_ids[:40].tolist()
    explained = explain_typing(fitted, data, cases)
    assert explained["case_id"].to_list() == cases
    kinds = ("IDH wildtype", "IDH mutant codeleted", "IDH mutant non codeleted")
    for row in explained.iter_rows(named=True):
        kind = kinds[MOLECULAR_TYPE_CLASSES.index(row["predicted_molecular_type"])]
        assert kind in row["explanation"], row
    # The planted genes (GENE0..GENE2 follow the type; histology does too) move the calls, read as expression in SD;
    # the 57 noise genes hardly ever do.
    planted = explained["explanation"].str.count_matches(r"\bGENE[012] expression [+-]\d\.\d SD").sum()
    noise = explained["explanation"].str.count_matches(r"\bGENE([3-9]|[1-5]\d) expression").sum()
    assert planted >= 20 and noise * 4 < planted, (planted, noise)
    with pytest.raises(TypingInputError, match="not in the typing data"):
        explain_typing(fitted, data, ["no-such-case"])
