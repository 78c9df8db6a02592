"""Jobs: the refresh of one GDC release, the catalog publish, and the GDC freshness check."""

from dagster import AssetCheckKey, AssetKey, AssetSelection, define_asset_job, multi_or_in_process_executor

from assets.warehouse import CATALOG_KEY

# Every step in the run's own process (the refresh job's default; any run may ask for it; the multiprocess
# alternative is orchestration.deployment.PARALLEL_RUN_CONFIG).
IN_PROCESS_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}
FRESHNESS_CHECK_KEY = AssetCheckKey(AssetKey(["gdc_release"]), "gdc_release_is_current")
# The freshness check compares GDC with what is published: it runs on its own, not inside a refresh.
_FRESHNESS = AssetSelection.checks(FRESHNESS_CHECK_KEY)
PROSPECTIVE_KEY = AssetKey(["models", "prospective_validation"])
REPORT_KEY = AssetKey(["reports", "release_report"])
TRAINING_KEYS = [
    # Rebuilt after the typing model: a release's first typing champion fills missing markers for its challengers.
    AssetKey(["features", "model_matrix"]),
    AssetKey(["features", "feature_list"]),
    AssetKey(["models", "grading_model"]),
    AssetKey(["models", "survival_model"]),
    AssetKey(["models", "survival_baselines"]),
    AssetKey(["models", "grading_baselines"]),
    AssetKey(["models", "molecular_typing_model"]),
    AssetKey(["models", "typing_comparison"]),
]

# Score first: raw -> harmonised -> features -> champion scores -> prospective validation -> catalog.
refresh_release_job = define_asset_job(
    name="refresh_gdc_release",
    selection=(
        AssetSelection.groups("raw", "harmonised", "features", "scores")
        | AssetSelection.assets(PROSPECTIVE_KEY, REPORT_KEY, CATALOG_KEY)
    )
    - _FRESHNESS,
    description=(
        "Fetch and harmonise one GDC data release, score it with the current champions, validate them on the patients "
        "they never saw, and publish the catalog. Challengers train afterwards (train_challengers)."
    ),
    tags={"glioma/job": "release_refresh"},
    # One process for the whole refresh by default: with a process per step the ~25 short steps of a TCGA-size
    # release spend ~90 s starting Python on 2 cores; in one process the scores are out in ~10 s. A deployment
    # with more cores or data selects `multiprocess` in run config (PARALLEL_RUN_CONFIG, orchestration/deployment.py).
    executor_def=multi_or_in_process_executor,
    config=IN_PROCESS_RUN_CONFIG,
)

# Off the path to fresh scores: challengers, the fair comparison, a promoted challenger's rescoring.
train_challengers_job = define_asset_job(
    name="train_challengers",
    selection=(
        AssetSelection.assets(*TRAINING_KEYS, PROSPECTIVE_KEY, REPORT_KEY, CATALOG_KEY)
        | AssetSelection.groups("scores")
    )
    - _FRESHNESS,
    description=(
        "Train the typing model, rebuild the model matrix with its predictions where markers are missing, train "
        "challengers on one release, judge them against the champions on the same folds, rescore the release with "
        "whichever model is champion, republish the catalog; the baseline leaderboards run last."
    ),
    tags={"glioma/job": "train_challengers"},
)

# After the challengers (so the risk groups are the final champion's): DE, enrichment, survival by gene.
analyse_expression_job = define_asset_job(
    name="analyse_expression",
    selection=AssetSelection.groups("analytics") | AssetSelection.assets(REPORT_KEY, CATALOG_KEY),
    description=(
        "Differential expression, Hallmark enrichment and survival by gene of one release (reused when their "
        "inputs did not change), then the release report and the catalog again."
    ),
    tags={"glioma/job": "analyse_expression"},
)
publish_catalog_job = define_asset_job(
    name="publish_catalog",
    selection=AssetSelection.assets(CATALOG_KEY),
    description="Republish the analysts' DuckDB catalog over every release whose tables are all written.",
)

check_gdc_freshness_job = define_asset_job(
    name="check_gdc_freshness",
    selection=AssetSelection.checks(FRESHNESS_CHECK_KEY),
    description="Fail when GDC's /status is ahead of the newest materialised release.",
)

JOBS = [
    refresh_release_job,
    train_challengers_job,
    analyse_expression_job,
    publish_catalog_job,
    check_gdc_freshness_job,
]
