"""The typing model as a registry task (models.typing_pipeline): stored and read back it scores exactly as trained,
reading only its own genes; the training fingerprint names the rows; the paired comparison promotes an identical
recipe and keeps a worse one; the WHO CNS5 class is predicted only where the markers cannot give it, by the same
rule, keeping every call the markers did make."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from contracts.features import MOLECULAR_TYPE_CLASSES
from models.molecular_typing import typing_frame
from models.typing_pipeline import (
    REGISTRY_RECIPE,
    TypingRecipe,
    compare_typing,
    load_typing,
    model_expression,
    predicted_who_cns5,
    recipe_data,
    score_release,
    train_typing,
    typing_artifacts,
    typing_training_fingerprint,
)
from tests.models._model_cohort import synthetic_cohort
from tests.models.test_molecular_typing import _planted_expression

WILDTYPE, CODELETED, NON_CODELETED = MOLECULAR_TYPE_CLASSES
CV = dict(n_splits=3, n_repeats=1, seed=11)


@pytest.fixture(scope="module")
def cohort():
    patients, markers = synthetic_cohort(300, seed=21)
    unprofiled = markers["case_id"][:25].to_list()
    markers = markers.with_columns(
        idh_status=pl.when(pl.col("case_id").is_in(unprofiled)).then(None).otherwise("idh_status")
    )
    frame = typing_frame(patients, markers)
    return patients, markers, frame, _planted_expression(frame, share=0.7, seed=22), unprofiled


def _long(expression) -> pl.DataFrame:
    """The harmonised expression table's shape: one row per (patient, gene)."""
    return pl.DataFrame(
        {
            "case_id": np.repeat(expression.case_ids, len(expression.gene_ids)),
            "gene_id": np.tile(expression.gene_ids, len(expression.case_ids)),
            "log2_normalised_count": expression.log2_normalised.ravel(),
        }
    )


def test_a_stored_model_scores_exactly_as_trained_from_its_own_genes_only(cohort):
    patients, markers, frame, expression, unprofiled = cohort
    data = recipe_data(frame, expression, REGISTRY_RECIPE)
    trained = train_typing(data, REGISTRY_RECIPE, release="1.0", code_version="test", feature_set_version="v", **CV)
    assert trained.entry.task == "molecular_type" and trained.entry.training_rows == data.labelled.size
    assert trained.entry.cv_metrics["roc_auc_macro"]["low"] <= trained.entry.cv_metrics["roc_auc_macro"]["mean"]
    model_text, metadata = typing_artifacts(trained)
    assert len(metadata["expression_gene_ids"]) == len(trained.fitted.selected_genes) > 0
    loaded = load_typing(model_text, metadata, trained.training_rows["case_id"].to_list())
    # Scoring reads the long table restricted to the model's genes.
    restricted = _long(expression).filter(pl.col("gene_id").is_in(metadata["expression_gene_ids"]))
    stored = score_release(
        loaded, frame, model_expression(restricted, loaded), REGISTRY_RECIPE, patients, markers
    ).sort("case_id")
    fresh = score_release(trained.fitted, frame, expression, REGISTRY_RECIPE, patients, markers).sort("case_id")
    probabilities = [f"probability_{c}" for c in MOLECULAR_TYPE_CLASSES]
    np.testing.assert_allclose(stored.select(probabilities).to_numpy(), fresh.select(probabilities).to_numpy())
    assert stored["prediction_set"].to_list() == fresh["prediction_set"].to_list()
    assert stored["explanation"].to_list() == fresh["explanation"].to_list()
    assert not stored.filter(pl.col("case_id").is_in(unprofiled))["in_training_set"].any()
    assert stored.filter(pl.col("molecular_type_from_markers").is_not_null())["in_training_set"].all()


def test_the_training_fingerprint_changes_with_a_label_and_not_otherwise(cohort):
    _, _, frame, expression, _ = cohort
    data = recipe_data(frame, expression, REGISTRY_RECIPE)
    first = typing_training_fingerprint(REGISTRY_RECIPE, data, 3, 1, 11)
    assert (
        typing_training_fingerprint(REGISTRY_RECIPE, recipe_data(frame, expression, REGISTRY_RECIPE), 3, 1, 11) == first
    )
    flipped = frame.with_columns(
        molecular_type=pl.when(pl.int_range(pl.len()) == int(data.labelled[0]))
        .then(pl.lit(WILDTYPE if frame["molecular_type"][int(data.labelled[0])] != WILDTYPE else CODELETED))
        .otherwise("molecular_type")
    )
    assert (
        typing_training_fingerprint(REGISTRY_RECIPE, recipe_data(flipped, expression, REGISTRY_RECIPE), 3, 1, 11)
        != first
    )
    assert typing_training_fingerprint(TypingRecipe(with_histology=True), data, 3, 1, 11) != first


def test_the_paired_comparison_promotes_the_same_recipe_and_keeps_a_clearly_worse_one(cohort):
    _, _, frame, expression, _ = cohort
    worse = TypingRecipe(with_expression=False, with_histology=False, with_genomic=False)  # age and sex only
    data = {recipe: recipe_data(frame, expression, recipe) for recipe in (REGISTRY_RECIPE, worse)}
    promote, reason, comparison, _ = compare_typing(data, REGISTRY_RECIPE, REGISTRY_RECIPE, **CV)
    assert promote and comparison["difference_mean"] == 0.0 and comparison["n_folds"] == 3, reason
    promote, reason, comparison, _ = compare_typing(data, REGISTRY_RECIPE, worse, **CV)
    assert not promote and "kept as challenger" in reason
    assert comparison["difference_ci_high"] < 0


def test_the_who_class_is_predicted_only_where_the_markers_cannot_give_it_and_keeps_their_calls():
    patients = pl.DataFrame(
        {
            "case_id": ["a", "b", "c", "d"],
            "release": "1.0",
            "submitter_id": ["TCGA-A", "TCGA-B", "TCGA-C", "TCGA-D"],
            "project_id": ["TCGA-GBM", "TCGA-LGG", "TCGA-LGG", "TCGA-LGG"],
            "histology_family": ["glioblastoma", "oligodendroglioma", "astrocytoma", "astrocytoma"],
            "who_grade": [4, 2, 3, 3],
        }
    )
    markers = pl.DataFrame(
        {
            "case_id": ["a", "b", "c"],  # d has no marker record at all
            "release": "1.0",
            "submitter_id": ["TCGA-A", "TCGA-B", "TCGA-C"],
            "ssm_profiled": [False, True, True],
            "cnv_profiled": [False, False, True],
            "idh_status": [None, "mutant", "wildtype"],
            "idh_hotspot": [None, "IDH1 R132H", None],
            "tert_status": [None, None, None],
            "codeletion_1p19q": [None, None, False],
            "chr7_gain_chr10_loss": [None, None, True],
            "egfr_amplified": [None, None, False],
            "cdkn2a_homozygous_deletion": [None, None, False],
            "mgmt_promoter_methylated": [None, True, False],
        }
    )

    def score(case, typed_by_markers, probabilities):
        return {
            "case_id": case,
            "molecular_type_from_markers": typed_by_markers,
            **{f"probability_{c}": p for c, p in zip(MOLECULAR_TYPE_CLASSES, probabilities, strict=True)},
            "predicted_molecular_type": MOLECULAR_TYPE_CLASSES[int(np.argmax(probabilities))],
            "predicted_probability": max(probabilities),
        }

    scores = pl.DataFrame(
        [
            score("a", None, (0.9, 0.05, 0.05)),  # no IDH call: predicted wildtype, GBM histology
            score("b", None, (0.6, 0.3, 0.1)),  # IDH-mutant, 1p/19q unknown: stays mutant, codeleted more probable
            score("c", WILDTYPE, (0.1, 0.1, 0.8)),  # typed by its markers: no prediction whatever the model says
            score("d", None, (0.1, 0.2, 0.7)),  # no marker record: predicted non-codeleted IDH-mutant
        ]
    )
    predicted = {row["case_id"]: row for row in predicted_who_cns5(patients, markers, scores).iter_rows(named=True)}
    assert set(predicted) == {"a", "b", "d"}
    assert predicted["a"]["who_cns5_class_predicted"] == "glioblastoma, IDH-wildtype"
    assert predicted["a"]["who_cns5_grade_predicted"] == 4
    assert predicted["b"]["who_cns5_class_predicted"] == "oligodendroglioma, IDH-mutant and 1p/19q-codeleted"
    assert predicted["d"]["who_cns5_class_predicted"] == "astrocytoma, IDH-mutant"
    for row in predicted.values():
        assert row["who_cns5_basis_predicted"].startswith("predicted: molecular type"), row
    # The source of the IDH call: the prediction for d, the hotspot the markers found for b.
    assert "IDH-mutant (predicted)" in predicted["d"]["who_cns5_basis_predicted"]
    assert "IDH-mutant (IDH1 R132H)" in predicted["b"]["who_cns5_basis_predicted"]
    assert "hotspot" not in predicted["d"]["who_cns5_basis_predicted"]


def test_the_prospective_typing_metrics_are_the_cv_definitions_with_bootstrap_intervals():
    from models.classification_validation import molecular_type_validation
    from models.molecular_typing import typing_metrics

    rng = np.random.default_rng(5)
    label = rng.integers(0, 3, 120)
    probability = rng.dirichlet(np.ones(3), 120)
    probability[np.arange(120), label] += 0.6 * rng.random(120)  # informative, not perfect
    probability /= probability.sum(axis=1, keepdims=True)
    estimates = {
        e.metric: e for e in molecular_type_validation(label, probability, MOLECULAR_TYPE_CLASSES, n_bootstrap=300)
    }
    expected = typing_metrics(label, probability)
    for metric in ("roc_auc_macro", "accuracy", "f1_macro", *(f"roc_auc_{c}" for c in MOLECULAR_TYPE_CLASSES)):
        assert estimates[metric].value == pytest.approx(expected[metric], abs=1e-12), metric
        assert estimates[metric].ci_low <= estimates[metric].value <= estimates[metric].ci_high
        assert estimates[metric].n == 120
    too_few = molecular_type_validation(label[:5], probability[:5], MOLECULAR_TYPE_CLASSES, n_bootstrap=10)
    assert all(e.value is None and "fewer than" in e.note for e in too_few)
