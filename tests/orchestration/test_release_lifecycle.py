"""A release's life with real jobs over HTTP: scored first by the champion (honest in_training_set flags,
prospective validation on the patients it never saw), then challengers judged on the same folds —
a worse one kept, a better one promoted — and retraining skipped when nothing changed."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from lake.store import Lake
from models.grading import GBM_VS_LGG
from models.registry import read_training_rows
from orchestration.definitions import build_definitions
from sandbox.synthetic import TRUTH_FILE

pytestmark = pytest.mark.slow
# Built to be worse: a grading recipe that sees only sex (GBM vs LGG is mostly IDH, age and markers).
DEGRADED = {GBM_VS_LGG: ["sex_male"]}


def _defs(base_url, data_dir, challenger_feature_sets=None):
    return build_definitions(
        {
            "gdc": GdcApiResource(base_url=base_url, backoff_factor=0.01),
            "lake": LakeResource(data_dir=str(data_dir)),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(
                n_splits=3,
                n_repeats=1,
                survival_baselines=False,
                classifier_baselines=False,
                challenger_feature_sets=challenger_feature_sets or {},
            ),
        }
    )


def _run(defs, job, release, instance):
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    result = defs.resolve_job_def(job).execute_in_process(partition_key=release, instance=instance)
    assert result.success
    return result


def _registry(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as catalog:
        return pl.from_arrow(
            catalog.execute(
                "select model_version, task, training_release, status, decision_reason, comparison, created_at "
                "from registry.models order by created_at"
            ).arrow()
        )


@pytest.fixture(scope="module")
def lifecycle(synthetic_two_release_root, tmp_path_factory):
    from sandbox.gdc_standin import GdcStandIn

    root, first, second = synthetic_two_release_root
    data_dir = tmp_path_factory.mktemp("lifecycle")
    server = GdcStandIn(root, port=0)
    server.start()
    instance = DagsterInstance.ephemeral()
    try:
        server.set_release(first)
        # Release 45.0: the first champion for GBM-vs-LGG is trained on the degraded recipe.
        _run(_defs(server.base_url, data_dir), "refresh_gdc_release", first, instance)
        _run(_defs(server.base_url, data_dir, DEGRADED), "train_challengers", first, instance)
        registry_after_first = _registry(data_dir)
        server.set_release(second)
        refresh = _run(_defs(server.base_url, data_dir), "refresh_gdc_release", second, instance)
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as catalog:
            scored_first = pl.from_arrow(catalog.execute("select * from scores.grading_current").arrow())
            prospective = pl.from_arrow(catalog.execute("select * from models.prospective_validation_current").arrow())
        # Release 46.0 challengers: the full recipe (better than the degraded champion) ...
        _run(_defs(server.base_url, data_dir), "train_challengers", second, instance)
        after_better = _registry(data_dir)
        # ... then the degraded recipe again, now against the full champion (worse: kept as challenger).
        _run(_defs(server.base_url, data_dir, DEGRADED), "train_challengers", second, instance)
        after_worse = _registry(data_dir)
        # Nothing changed: the same run again trains nothing.
        unchanged = _run(_defs(server.base_url, data_dir, DEGRADED), "train_challengers", second, instance)
    finally:
        server.stop()
    return {
        "root": root,
        "first": first,
        "second": second,
        "data_dir": data_dir,
        "refresh": refresh,
        "registry_after_first": registry_after_first,
        "scored_first": scored_first,
        "prospective": prospective,
        "after_better": after_better,
        "after_worse": after_worse,
        "unchanged": unchanged,
    }


def test_a_new_release_is_scored_first_by_the_champion_trained_on_the_previous_one(lifecycle):
    first, second = lifecycle["first"], lifecycle["second"]
    scores = lifecycle["scored_first"]
    assert scores["release"].unique().to_list() == [second]
    champions = lifecycle["registry_after_first"].filter(pl.col("status") == "champion")
    gbm_champion = champions.filter(pl.col("task") == GBM_VS_LGG).row(0, named=True)
    assert scores["model_version"].unique().to_list() == [gbm_champion["model_version"]]
    assert gbm_champion["training_release"] == first
    # Event order: release 46.0 was scored before any challenger of 46.0 was registered.
    challengers_46 = lifecycle["after_better"].filter(pl.col("training_release") == second)
    assert challengers_46.height >= 1
    assert scores["scored_at"].max() < challengers_46["created_at"].min()


def test_scores_say_which_patients_the_model_trained_on(lifecycle):
    scores = lifecycle["scored_first"]
    model_version = scores["model_version"][0]
    trained = set(read_training_rows(lifecycle["data_dir"] / "models", model_version)["case_id"].to_list())
    expected = scores["case_id"].is_in(pl.Series(sorted(trained)).implode())
    assert scores["in_training_set"].to_list() == expected.to_list()
    assert 0 < scores["in_training_set"].sum() < scores.height  # new patients are scored out of sample


def test_prospective_validation_runs_on_exactly_the_new_patients(lifecycle):
    prospective = lifecycle["prospective"]
    arrived = prospective.filter(
        (pl.col("cohort") == "arrived_after_training")
        & (pl.col("task") == GBM_VS_LGG)
        & (pl.col("metric") == "roc_auc")
    )
    assert arrived.height == 1
    scores = lifecycle["scored_first"]
    lake = Lake(lifecycle["data_dir"])
    matrix = lake.read("features", "model_matrix", lifecycle["second"])
    labelled_new = matrix.filter(pl.col("label_gbm").is_not_null()).join(
        scores.filter(~pl.col("in_training_set")).select("case_id"), on="case_id"
    )
    assert arrived["n"][0] == labelled_new.height > 0
    assert {"harrell_c", "uno_c", "ibs", "roc_auc_micro", "conformal_coverage", "ece_noise_floor"} <= set(
        prospective["metric"].to_list()
    )


def test_a_better_challenger_is_promoted_and_a_worse_one_kept_on_the_same_folds(lifecycle):
    second = lifecycle["second"]
    better = lifecycle["after_better"].filter((pl.col("task") == GBM_VS_LGG) & (pl.col("training_release") == second))
    assert better.height == 1 and better["status"][0] == "champion"
    comparison = better["comparison"][0]
    import json

    comparison = json.loads(comparison) if isinstance(comparison, str) else comparison
    assert comparison["promote"] is True and comparison["difference_ci_low"] > -comparison["margin"]
    worse = lifecycle["after_worse"].filter(
        (pl.col("task") == GBM_VS_LGG) & (pl.col("training_release") == second) & (pl.col("status") == "challenger")
    )
    assert worse.height == 1
    worse_comparison = json.loads(worse["comparison"][0])
    assert worse_comparison["promote"] is False and worse_comparison["difference_ci_high"] < 0
    assert (
        "kept" in worse["decision_reason"][0]
        or "not promoted" in worse["decision_reason"][0].lower()
        or "worse" in worse["decision_reason"][0]
    )


def test_retraining_is_skipped_when_recipe_and_training_rows_are_unchanged(lifecycle):
    result = lifecycle["unchanged"]
    metadata = [
        m for m in result.get_asset_materialization_events() if m.asset_key.path == ["models", "grading_model"]
    ][0].materialization.metadata
    assert metadata[f"{GBM_VS_LGG}/retrained"].value is False
    assert "not retrained" in metadata[f"{GBM_VS_LGG}/decision"].value


def test_release_changes_match_the_generator_truth(lifecycle):
    lake = Lake(lifecycle["data_dir"])
    changes = lake.read("harmonised", "release_changes", lifecycle["second"])
    truth = pl.read_parquet(lifecycle["root"] / "releases" / lifecycle["second"] / TRUTH_FILE)
    patients = changes.filter(pl.col("table") == "harmonised/patients")
    added = set(patients.filter(pl.col("change") == "added")["case_id"])
    removed = set(patients.filter(pl.col("change") == "removed")["case_id"])
    assert added == set(truth.filter(pl.col("release_change") == "added")["case_id"])
    assert removed and removed.isdisjoint(set(lake.read("harmonised", "patients", lifecycle["second"])["case_id"]))
