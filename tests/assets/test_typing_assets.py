"""Molecular typing in the pipeline (assets.typing), on the two-release world built by the real jobs: a registry
champion judged on the same folds, every scorable patient typed by it, the WHO CNS5 class predicted exactly where
the markers cannot give it and shown flagged in the analysts' patient view, the compared recipes with intervals,
and no retraining when nothing changed. Expected values are computed here from the lake's own tables."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from dagster import instance_for_test, materialize

from assets.partitions import gdc_releases
from assets.resources import LakeResource, ModelTrainingResource
from assets.typing import molecular_typing_model, typing_comparison
from contracts.features import MOLECULAR_TYPE_CLASSES
from lake.store import Lake
from models.molecular_typing import LATE_FUSION, TYPING_MODELS

WILDTYPE, CODELETED, NON_CODELETED = MOLECULAR_TYPE_CLASSES


def _sql(data_dir, query: str) -> pl.DataFrame:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(query).pl()


def _type_from_markers(markers: pl.DataFrame) -> pl.DataFrame:
    """Independently of models.molecular_typing: IDH wildtype, or IDH mutant with a 1p/19q call."""
    return markers.select(
        "case_id",
        pl.when(pl.col("idh_status") == "wildtype")
        .then(pl.lit(WILDTYPE))
        .when((pl.col("idh_status") == "mutant") & pl.col("codeletion_1p19q").eq(True))
        .then(pl.lit(CODELETED))
        .when((pl.col("idh_status") == "mutant") & pl.col("codeletion_1p19q").eq(False))
        .then(pl.lit(NON_CODELETED))
        .alias("expected_type"),
    )


def test_a_typing_champion_is_registered_and_the_next_release_is_judged_on_the_same_folds(two_release_catalog):
    data_dir, first, second = two_release_catalog
    models = _sql(data_dir, "select * from registry.models where task = 'molecular_type' order by training_release")
    assert models["training_release"].to_list() == [first, second]
    assert models.filter(pl.col("status") == "champion").height == 1
    judged = models.filter(pl.col("training_release") == second).row(0, named=True)
    assert "paired folds, same patients" in judged["decision_reason"]
    board = _sql(data_dir, "select * from analytics.model_leaderboard where task = 'molecular_type'")
    assert board["cv_metric"].unique().to_list() == ["roc_auc_macro"]
    assert (board["cv_mean"] > 0.8).all(), board  # synthetic markers carry the type (age, 7+/10-, EGFR, MGMT)


def test_every_scorable_patient_is_typed_and_trained_on_exactly_the_typed_ones(two_release_catalog):
    data_dir, _, second = two_release_catalog
    lake = Lake(data_dir)
    champion = _sql(
        data_dir, "select model_version from registry.models where task='molecular_type' and status='champion'"
    )
    scores = lake.read("scores", "molecular_type", second).filter(
        pl.col("model_version") == champion["model_version"][0]
    )
    markers = lake.read("harmonised", "molecular_markers", second)
    patients = lake.read("harmonised", "patients", second)
    assert scores["case_id"].is_unique().all() and set(scores["case_id"]) <= set(patients["case_id"])
    expected = _type_from_markers(markers)
    joined = scores.join(expected, on="case_id", how="left")
    assert (joined["molecular_type_from_markers"].fill_null("-") == joined["expected_type"].fill_null("-")).all()
    # The champion was trained on the second release, so in-sample exactly for the typed patients.
    assert (joined["in_training_set"] == joined["expected_type"].is_not_null()).all()
    probabilities = scores.select(f"probability_{c}" for c in MOLECULAR_TYPE_CLASSES).to_numpy()
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-9
    assert scores.filter(pl.col("has_expression")).height > 0 and scores["explanation"].null_count() == 0
    # Accuracy on the patients it trained on is no proof of anything; it only shows the labels line up.
    typed = joined.filter(pl.col("expected_type").is_not_null())
    assert (typed["predicted_molecular_type"] == typed["expected_type"]).mean() > 0.8


def test_the_who_class_is_predicted_only_where_the_markers_cannot_give_it_and_flagged_for_analysts(
    two_release_catalog,
):
    data_dir, _, second = two_release_catalog
    view = _sql(data_dir, "select * from analytics.patient_scores_current")
    assert view["release"].unique().to_list() == [second]
    from_markers = view.filter(pl.col("who_cns5_class") != "not classifiable")
    assert (from_markers["who_cns5_class_status"] == "from markers").all()
    assert (from_markers["who_cns5_class_or_predicted"] == from_markers["who_cns5_class"]).all()
    predicted = view.filter(pl.col("who_cns5_class_status") == "predicted")
    assert predicted.height > 0, "the synthetic world has patients without an IDH call"
    assert predicted["idh_status"].is_null().any() or predicted["codeletion_1p19q"].is_null().all()
    assert (predicted["who_cns5_class"] == "not classifiable").all()
    assert (
        predicted["who_cns5_class_or_predicted"]
        .is_in(
            [
                "glioblastoma, IDH-wildtype",
                "astrocytoma, IDH-mutant",
                "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
            ]
        )
        .all()
    )
    assert predicted["who_cns5_basis_predicted"].str.starts_with("predicted: molecular type").all()
    assert not predicted["molecular_type_in_training_set"].any()
    # A patient typed by its markers never gets a predicted class.
    typed = view.filter(pl.col("idh_status") == "wildtype")
    assert typed["who_cns5_basis_predicted"].null_count() == typed.height


def test_the_compared_recipes_share_the_folds_and_state_intervals(two_release_catalog):
    data_dir, first, _ = two_release_catalog
    table = Lake(data_dir).read("models", "typing_comparison", first)
    families = set(table["family"])
    assert families == set(TYPING_MODELS) and LATE_FUSION in families
    macro = table.filter(pl.col("metric") == "roc_auc_macro")
    assert macro.height == 9 and macro["is_registry_recipe"].sum() == 1
    assert (macro["low"] <= macro["mean"]).all() and (macro["mean"] <= macro["high"]).all()
    assert macro.filter(~pl.col("with_expression")).height == 2
    assert macro["n_patients"].n_unique() == 1  # the same labelled patients for every recipe
    # The analysts' leaderboard shows them beside the registry model of the release, ranked on the same metric.
    board = _sql(
        data_dir,
        f"select * from analytics.model_leaderboard where task = 'molecular_type' and training_release = '{first}'",
    )
    baselines = board.filter(pl.col("status") == "baseline")
    assert baselines.height == 8 and board.filter(pl.col("status") != "baseline").height == 1
    assert {"late_fusion", "logistic_regression", "mlp", "random_forest", "svm_rbf_calibrated"} <= {
        model.split(" ")[0] for model in baselines["model"]
    }
    assert (baselines["cv_low"] <= baselines["cv_mean"]).all() and (baselines["cv_mean"] <= baselines["cv_high"]).all()


def test_nothing_is_retrained_or_recomputed_when_the_inputs_did_not_change(two_release_catalog_copy):
    data_dir, _, second = two_release_catalog_copy
    before = _sql(data_dir, "select count(*) as n from registry.models where task = 'molecular_type'")["n"][0]
    comparison_file = Lake(data_dir).resolve("models", "typing_comparison", second)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(gdc_releases.name, [second])
        result = materialize(
            [molecular_typing_model, typing_comparison],
            partition_key=second,
            instance=instance,
            resources={
                "lake": LakeResource(data_dir=str(data_dir)),
                "model_training": ModelTrainingResource(
                    n_splits=2, n_repeats=1, survival_baselines=False, classifier_baselines=True
                ),
            },
        )
    assert result.success
    metadata = {
        event.asset_key.path[-1]: event.step_materialization_data.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert metadata["molecular_typing_model"]["retrained"].value is False
    assert metadata["typing_comparison"]["recomputed"].value is False
    assert Lake(data_dir).resolve("models", "typing_comparison", second) == comparison_file
    with duckdb.connect(str(data_dir / "model_registry.duckdb"), read_only=True) as connection:
        after = connection.execute("select count(*) from registry.models where task = 'molecular_type'").fetchone()[0]
    assert after == before


@pytest.mark.realdata
def test_the_real_dev_patients_without_marker_calls_get_a_predicted_who_class(real_rna_lake):
    view = _sql(real_rna_lake, "select * from analytics.patient_scores_current")
    markers = Lake(real_rna_lake, finished=lambda writer: True).read("harmonised", "molecular_markers", "45.0")
    untyped = _type_from_markers(markers).filter(pl.col("expected_type").is_null())["case_id"]
    assert untyped.len() >= 50  # the dev cohort's patients without an IDH (or 1p/19q) call
    predicted = view.filter(pl.col("case_id").is_in(untyped.implode()))
    # Nearly all of them are typed (a patient needs expression or >= 3 known features) and, where the rule can then
    # classify, predicted.
    typed = predicted.filter(pl.col("predicted_molecular_type").is_not_null())
    assert typed.height >= 0.95 * predicted.height, (typed.height, predicted.height)
    assert (typed["who_cns5_class_status"] == "predicted").mean() >= 0.9
    assert (view.filter(pl.col("who_cns5_class_status") == "predicted")["case_id"].is_in(untyped.implode())).all()
    assert not predicted["molecular_type_in_training_set"].any()


@pytest.mark.realdata
def test_the_real_model_matrix_carries_expression_signatures_exactly_for_the_patients_with_expression(real_rna_lake):
    from contracts.features import EXPRESSION_SIGNATURES

    lake = Lake(real_rna_lake, finished=lambda writer: True)
    matrix = lake.read("features", "model_matrix", "45.0")
    with_rna = set(lake.read("harmonised", "expression_samples", "45.0").filter(pl.col("used"))["case_id"])
    has_signature = matrix.select("case_id", pl.all_horizontal(pl.col(list(EXPRESSION_SIGNATURES)).is_not_null()))
    flagged = dict(has_signature.iter_rows())
    assert len(with_rna) >= 400
    assert all(flagged[case] for case in with_rna & set(flagged))
    assert not any(flagged[case] for case in set(flagged) - with_rna)
    # Each signature is the mean of its measured genes, recomputed here for one patient from the harmonised table.
    from analyses.gene_sets import match_sets
    from analyses.signatures import signature_gene_sets

    patient = sorted(with_rna)[0]
    values = lake.read("harmonised", "expression", "45.0").filter(pl.col("case_id") == patient)
    (hypoxia,) = match_sets({"h": signature_gene_sets()["signature_hypoxia"]}, values["gene_name"].to_list())
    expected = values.filter(pl.col("gene_name").is_in(list(hypoxia.matched_names)))["log2_normalised_count"].mean()
    row = matrix.filter(pl.col("case_id") == patient).row(0, named=True)
    assert hypoxia.n_measured >= 5 and row["signature_hypoxia"] == pytest.approx(expected)
