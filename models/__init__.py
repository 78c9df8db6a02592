"""Grading, survival and molecular typing models: training, CV, calibration, metrics, explanations, scoring and
the registry. Pure: no Dagster; file/DuckDB I/O only in `models.registry` and `models.registry_store`.

How the model assets use it:

    from transforms.features import build_model_matrix, feature_list_table
    from models.pipeline import train_task, load_model
    from models.registry import register_model, write_model_artifacts, current_champion, read_model_artifacts
    from models.scoring import score_grading, score_survival

    model_matrix = build_model_matrix(patients, markers)                    # features/model_matrix
    trained = train_task(model_matrix, "survival_risk", release=r, code_version=git_sha)
    write_model_artifacts(models_dir, trained.model_version,
                          trained.model.booster.model_to_string(), trained.artifact_metadata())
    entry = register_model(connection, trained.entry)                      # champion or challenger
    champion = current_champion(connection, "survival_risk")
    model = load_model("survival_risk", *read_model_artifacts(models_dir, champion.model_version))
    scores = score_survival(model_matrix.matrix, model, champion.model_version, release=r, scored_at=now)

Modules: `cox` (Cox partial-likelihood objective, Breslow baseline), `training` (inner-CV search),
`grading`, `survival`, `cv` (case-grouped repeated stratified folds), `metrics`, `explain`,
`registry`, `registry_store`, `scoring`, `pipeline`, `prospective`, `validation` (with `validation_bootstrap`,
`classification_validation`, `survival_validation`), `challenge`, `conformal`, `pattern_shap`, `lightgbm_trees`
(the one reader of a LightGBM model's structure), `molecular_typing` and `typing_fusion` (IDH / 1p19q type from
expression, other markers and age; late fusion and scikit-learn baselines on the same folds), `typing_pipeline`
(typing as a registry task: recipes, training, comparison, scoring, predicted WHO CNS5 class),
`grading_baselines` (classic classifiers on the registry's grading folds).
"""
