"""Late fusion of the omics blocks (models.typing_fusion): one model per block stacked on out-of-fold block
predictions, a patient lacking a block scored by the blocks it has, and per-block contributions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.molecular_typing import (
    LATE_FUSION,
    LIGHTGBM,
    TYPING_MODELS,
    cross_validate_typing,
    design_blocks,
    pooled_metrics,
    typing_data,
    typing_frame,
)
from models.typing_fusion import LateFusionTyping
from tests.models._model_cohort import synthetic_cohort
from tests.models.test_molecular_typing import _planted_expression


@pytest.fixture(scope="module")
def planted():
    patients, markers = synthetic_cohort(360, seed=12)
    frame = typing_frame(patients, markers)
    return typing_data(frame, _planted_expression(frame, share=0.6, seed=13))


def test_late_fusion_runs_on_the_same_folds_as_early_fusion_and_recovers_the_type(planted):
    cv = cross_validate_typing(planted, models=(LIGHTGBM, LATE_FUSION), n_splits=3)
    for model in (LIGHTGBM, LATE_FUSION):
        assert pooled_metrics(cv.predictions, model, pl.col("has_expression"))["roc_auc_macro"] > 0.9
        # Patients without expression are scored too (by the blocks they have), never left out.
        assert pooled_metrics(cv.predictions, model, ~pl.col("has_expression"))["n"] > 50
    tested = cv.predictions.group_by("model").agg(pl.col("case_id").sort())
    assert tested["case_id"][0].to_list() == tested["case_id"][1].to_list()


def test_a_patient_without_expression_is_scored_by_the_blocks_it_has(planted):
    labelled = planted.labelled
    from models.molecular_typing import ExpressionSelector, _design

    selector = ExpressionSelector().fit(planted.expression[labelled], planted.label[labelled])
    features = _design(planted, selector, labelled)
    fusion = LateFusionTyping(1, TYPING_MODELS[LIGHTGBM]).set_blocks(
        design_blocks(planted.tabular_names, selector.genes.size)
    )
    fusion.fit(features, planted.label[labelled])
    assert set(fusion.stackers) == {("clinical", "genomic", "expression"), ("clinical", "genomic")}
    probability = fusion.predict_proba(features)
    np.testing.assert_allclose(probability.sum(axis=1), 1.0, atol=1e-9)
    without = ~planted.has_expression[labelled]
    # Exactly the two-block stacker's answer for them; the three-block one for the others.
    blocks = fusion.block_probabilities(features)
    two = fusion.stackers[("clinical", "genomic")].predict_proba(
        fusion._stacked({k: v[without] for k, v in blocks.items()}, ("clinical", "genomic"))
    )
    np.testing.assert_allclose(probability[without], two)
    contribution = fusion.block_contributions(features)
    assert np.isnan(contribution["expression"][without]).all()
    assert np.isfinite(contribution["expression"][~without]).all()
    assert np.isfinite(contribution["clinical"]).all() and np.isfinite(contribution["genomic"]).all()


def test_late_fusion_needs_its_blocks():
    with pytest.raises(ValueError, match="set_blocks"):
        LateFusionTyping(1, TYPING_MODELS[LIGHTGBM]).fit(np.zeros((10, 2)), np.zeros(10, dtype=int))
