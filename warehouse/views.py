"""The analysts' SQL entry points beyond one view per lake table (`<layer>.<table>` and
`<layer>.<table>_current`, made by warehouse.catalog).

Each view names the views it reads (`sources`): it is created only when they exist, so a partly built
lake still gets a valid catalog. `{latest_release}` in the SQL stands for the newest published release.
Column comments come from the declarations of the tables the columns come from (contracts/tables.py):
a view's select list is built from (table alias, declaration, column) triples, so the SQL and the
comments cannot drift apart. Only computed columns carry their own text here.

The catalog also holds a few tables that are not lake tables: the registry copy (`registry.models`,
described by REGISTRY_COLUMNS), `ops.catalog_releases` (warehouse.catalog) and the computed analyst
tables (warehouse.analytics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.analysis_tables import HARMONISED_EXPRESSION_SUBTYPES
from contracts.features import GBM_VS_LGG, MOLECULAR_TYPE, SURVIVAL_RISK
from contracts.schemas import DAYS_PER_MONTH, GRADE_CLASSES, SURVIVAL_HORIZONS_MONTHS
from contracts.tables import (
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    HARMONISED_WHO_CNS5_CLASS,
    MODELS_GRADING_BASELINES,
    MODELS_PROSPECTIVE_VALIDATION,
    MODELS_SURVIVAL_BASELINES,
    MODELS_TYPING_COMPARISON,
    SCORES_GRADING,
    SCORES_MOLECULAR_TYPE,
    SCORES_SURVIVAL_RISK,
    SHARED_COLUMNS,
    TableSpec,
)
from models.registry import PROMOTION_RULES


@dataclass(frozen=True)
class AnalystView:
    name: str
    sources: tuple[str, ...]
    sql: str
    description: str
    columns: dict[str, str] = field(default_factory=dict)  # column -> comment


def described(*tables: TableSpec) -> dict[str, str]:
    """Column comments of the tables a view selects from (the first table that declares a column wins)."""
    out: dict[str, str] = {}
    for table in tables:
        for name, _, text in table.columns():
            out.setdefault(name, text)
    return out


# --- select lists that carry their comments ---------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    expression: str
    name: str
    comment: str


def _from(alias: str, table: TableSpec, column: str, *, name: str | None = None, note: str | None = None) -> _Column:
    """`alias.column [as name]`, commented with the declaration's description (plus `note`)."""
    text = table.describe(column)
    if note:
        text = f"{text} ({note})"
    return _Column(f'{alias}."{column}"', name or column, text)


def _computed(expression: str, name: str, comment: str) -> _Column:
    return _Column(expression, name, comment)


def _select_list(columns: list[_Column]) -> str:
    names = [c.name for c in columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"view select list names {duplicated} more than once")
    return ",\n               ".join(
        c.expression if c.expression.endswith(f'."{c.name}"') else f'{c.expression} as "{c.name}"' for c in columns
    )


def _comments(columns: list[_Column]) -> dict[str, str]:
    return {c.name: c.comment for c in columns}


# Release labels in numeric order (`9.0` < `10.1` < `45.0`), as lake.store.release_sort_key.
RELEASE_ORDER_SQL = "list_transform(regexp_extract_all({release}, '\\d+'), x -> cast(x as integer))"


def _release_order(column: str) -> str:
    return RELEASE_ORDER_SQL.format(release=column)


def _champion_current(table: TableSpec) -> AnalystView:
    return AnalystView(
        name=f"{table.qualified_name}_current",
        sources=(table.qualified_name, "registry.models"),
        sql=f"""
        select s.* from {table.qualified_name} s
        join registry.models m on m.model_version = s.model_version and m.status = 'champion'
        where s.release = {{latest_release}}
        """,
        description=f"{table.description} The champion model's rows of the newest published release.",
        columns=described(table),
    )


# --- the registry copy ----------------------------------------------------------------------------------------

REGISTRY_DESCRIPTION = (
    "The model registry (copied from <data>/model_registry.duckdb at publish time): one row per trained model "
    "version with its task, training release, parameters, cross-validated metrics and champion/challenger status."
)
REGISTRY_COLUMNS: dict[str, str] = {
    "model_version": "registry model version: <task>-<training release>-<hash of parameters, features, data, code>",
    "task": SHARED_COLUMNS["task"],
    "training_release": "GDC release the model was trained on",
    "feature_set_version": SHARED_COLUMNS["feature_set_version"],
    "parameters": "model and training parameters (JSON)",
    "cv_metrics": "cross-validated metrics on the training release, {metric: {mean, std, folds}} (JSON)",
    "training_rows": "patients the model was trained on",
    "code_version": "version of the training code",
    "created_at": "when the model was registered (UTC)",
    "status": "champion (scores new releases) / challenger (not promoted) / retired (former champion)",
    "decision_reason": "why the model was promoted or kept as challenger, with the metrics compared",
    "training_fingerprint": "sha256 of the recipe and the training rows: the same fingerprint means retraining "
    "would change nothing",
    "comparison": "the paired champion/challenger comparison on the same CV folds (JSON; null for a first model)",
}

# --- analytics.patient_scores_current ------------------------------------------------------------------------

P, M, W, G, S, T = (
    HARMONISED_PATIENTS,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_WHO_CNS5_CLASS,
    SCORES_GRADING,
    SCORES_SURVIVAL_RISK,
    SCORES_MOLECULAR_TYPE,
)
_HORIZONS = [f"survival_probability_{months}m" for months in SURVIVAL_HORIZONS_MONTHS]

_PATIENT_SCORES: list[_Column] = [
    *(
        _from("p", P, c)
        for c in (
            "case_id",
            "submitter_id",
            "project_id",
            "release",
            "age_at_diagnosis_years",
            "sex",
            "primary_diagnosis",
            "histology_family",
            "who_grade",
            "karnofsky_score",
            "received_radiation",
            "received_temozolomide",
            "received_chemotherapy",
            "vital_status",
            "overall_survival_days",
            "death_observed",
        )
    ),
    *(
        _from("w", W, c)
        for c in ("who_cns5_class", "who_cns5_grade", "who_cns5_basis", "not_classifiable_reason", "tmz_relevant")
    ),
    _computed(
        "case when w.who_cns5_class <> 'not classifiable' then 'from markers' "
        "when t.who_cns5_class_predicted is not null then 'predicted' else 'not classifiable' end",
        "who_cns5_class_status",
        "from markers (who_cns5_class), predicted (the markers cannot give the class; the molecular typing model's "
        "class is in who_cns5_class_or_predicted, flagged here) or not classifiable",
    ),
    _computed(
        "case when w.who_cns5_class <> 'not classifiable' then w.who_cns5_class "
        "else coalesce(t.who_cns5_class_predicted, w.who_cns5_class) end",
        "who_cns5_class_or_predicted",
        "who_cns5_class from the markers, else the class predicted by the molecular typing model "
        "(who_cns5_class_status says which)",
    ),
    _computed(
        "case when w.who_cns5_class <> 'not classifiable' then w.who_cns5_grade else t.who_cns5_grade_predicted end",
        "who_cns5_grade_or_predicted",
        "CNS WHO grade of who_cns5_class_or_predicted",
    ),
    _from("t", T, "who_cns5_basis_predicted", note="champion typing model"),
    _from("t", T, "predicted_molecular_type", note="champion typing model; for every scorable patient"),
    _from("t", T, "predicted_probability", name="molecular_type_probability", note="champion typing model"),
    _from("t", T, "prediction_set", name="molecular_type_prediction_set", note="champion typing model"),
    _from("t", T, "explanation", name="molecular_type_explanation", note="champion typing model"),
    *(
        _from("m", M, c)
        for c in (
            "idh_status",
            "idh_hotspot",
            "codeletion_1p19q",
            "atrx_status",
            "tp53_status",
            "tert_status",
            "chr7_gain_chr10_loss",
            "egfr_amplified",
            "cdkn2a_homozygous_deletion",
            "mgmt_promoter_methylated",
            "mgmt_stp27_probability",
            "mgmt_source",
        )
    ),
    *(
        _from("g", G, c, note="champion")
        for c in (
            "grade_probability_gbm",
            "predicted_class",
            "prediction_set",
            *(f"grade_probability_{g}" for g in GRADE_CLASSES),
            "predicted_who_grade",
            "grade_prediction_set",
            "conformal_coverage",
        )
    ),
    _from("g", G, "explanation", name="grading_explanation", note="GBM vs LGG, champion"),
    _from("g", G, "grade_explanation", note="champion"),
    *(_from("s", S, c, note="champion") for c in ("survival_risk_score", "risk_group", *_HORIZONS)),
    _from("s", S, "explanation", name="survival_explanation", note="survival risk, champion"),
    _from("g", G, "model_version", name="grading_model_version", note="champion"),
    _from("g", G, "grade_model_version", note="champion"),
    _from("s", S, "model_version", name="survival_model_version", note="champion"),
    _from("t", T, "model_version", name="molecular_type_model_version", note="champion"),
    _from("g", G, "in_training_set", name="grading_in_training_set", note="GBM-vs-LGG model"),
    _from("g", G, "grade_in_training_set"),
    _from("s", S, "in_training_set", name="survival_in_training_set", note="survival model"),
    _from("t", T, "in_training_set", name="molecular_type_in_training_set", note="molecular typing model"),
]

PATIENT_SCORES_CURRENT = AnalystView(
    name="analytics.patient_scores_current",
    sources=(
        "harmonised.patients_current",
        "harmonised.molecular_markers_current",
        "harmonised.who_cns5_class_current",
        "scores.grading_current",
        "scores.survival_risk_current",
        "scores.molecular_type_current",
    ),
    sql=f"""
        select {_select_list(_PATIENT_SCORES)}
        from harmonised.patients_current p
        left join harmonised.molecular_markers_current m on m.case_id = p.case_id
        left join harmonised.who_cns5_class_current w on w.case_id = p.case_id
        left join scores.grading_current g on g.case_id = p.case_id
        left join scores.survival_risk_current s on s.case_id = p.case_id
        left join scores.molecular_type_current t on t.case_id = p.case_id
        """,
    description=(
        "One row per patient of the newest published release: clinical summary, WHO CNS5 class, markers, both "
        "champion models' scores (GBM probability, class, conformal prediction sets, WHO grade; Cox risk, risk "
        "group, S(t)) with their explanations, model versions and in-training flags. Scores are null when no "
        "champion has scored the patient yet; an in_training_set flag true means the score is in-sample. Where the "
        "markers cannot give the WHO CNS5 class, who_cns5_class_or_predicted holds the class the molecular typing "
        "model predicts, flagged by who_cns5_class_status = 'predicted'."
    ),
    columns=_comments(_PATIENT_SCORES),
)

# --- analytics.score_history ----------------------------------------------------------------------------------

_GRADING_HISTORY = [
    "grade_model_version",
    "grade_probability_gbm",
    "predicted_class",
    "prediction_set",
    *(f"grade_probability_{g}" for g in GRADE_CLASSES),
    "predicted_who_grade",
    "grade_prediction_set",
    "conformal_coverage",
    "grade_explanation",
    "grade_in_training_set",
]
_SURVIVAL_HISTORY = ["survival_risk_score", "risk_group", *_HORIZONS]
_HISTORY_TASKS = {"grading": "grading_gbm_vs_lgg", "survival_risk": "survival_risk"}

_SCORE_HISTORY: list[_Column] = [
    _from("h", G, "case_id"),
    _from("p", P, "submitter_id"),
    _from("h", G, "release", note="the release scored"),
    _computed(
        "h.task",
        "task",
        "model task of the row: grading_gbm_vs_lgg (scores.grading: GBM vs LGG and the "
        "WHO grade) or survival_risk (scores.survival_risk)",
    ),
    _from(
        "h",
        G,
        "model_version",
        note="for grading rows the GBM-vs-LGG model; the WHO grade model is grade_model_version",
    ),
    _computed(
        "r.status",
        "model_status",
        "status of model_version in registry.models now: champion, challenger or retired (null: not in the registry)",
    ),
    _computed("r.training_release", "training_release", REGISTRY_COLUMNS["training_release"]),
    _computed(
        "(h.release = {latest_release} and r.status = 'champion')",
        "is_current",
        "the row is what the *_current views show: the champion's score of the newest published release",
    ),
    *(_from("h", G, c) for c in _GRADING_HISTORY),
    *(_from("h", S, c) for c in _SURVIVAL_HISTORY),
    _from("h", G, "explanation", note="of this row's task"),
    _from("h", G, "in_training_set", note="this row's model"),
    _from("h", G, "scored_at"),
]

SCORE_HISTORY = AnalystView(
    name="analytics.score_history",
    sources=("scores.grading", "scores.survival_risk", "registry.models", "harmonised.patients"),
    sql=f"""
        with h as (
            select *, '{_HISTORY_TASKS["grading"]}' as task from scores.grading
            union all by name
            select *, '{_HISTORY_TASKS["survival_risk"]}' as task from scores.survival_risk
        )
        select {_select_list(_SCORE_HISTORY)}
        from h
        left join registry.models r on r.model_version = h.model_version
        left join harmonised.patients p on p.case_id = h.case_id and p.release = h.release
        """,
    description=(
        "Every score row of every published release and model version (scores.grading and scores.survival_risk "
        "stacked; the columns of the other task are null), with the model's registry status now and whether the "
        "row is the current one. Follow one patient: where submitter_id = 'TCGA-..' order by release, task."
    ),
    columns=_comments(_SCORE_HISTORY),
)

# --- analytics.model_leaderboard ------------------------------------------------------------------------------

_RULES_SQL = ", ".join(
    f"('{task}', '{rule.metric}', {str(rule.higher_is_better).lower()})"
    for task, rule in sorted(PROMOTION_RULES.items())
)
_ARRIVED = "arrived_after_training"
# Rank within the task by cv_mean over registry models and baselines alike (1 = best; every task's metric is
# higher-is-better, as PROMOTION_RULES says).
assert all(rule.higher_is_better for rule in PROMOTION_RULES.values())
_RANK = 'rank() over (partition by task order by cv_mean desc nulls last) as "cv_rank"'
_PV = MODELS_PROSPECTIVE_VALIDATION

_LEADERBOARD: list[_Column] = [
    _computed("m.model_version", "model_version", REGISTRY_COLUMNS["model_version"]),
    _computed("m.task", "task", REGISTRY_COLUMNS["task"]),
    _computed("m.training_release", "training_release", REGISTRY_COLUMNS["training_release"]),
    _computed("m.status", "status", REGISTRY_COLUMNS["status"]),
    _computed("m.training_rows", "training_rows", REGISTRY_COLUMNS["training_rows"]),
    _computed("m.created_at", "created_at", REGISTRY_COLUMNS["created_at"]),
    _computed(
        "rules.metric",
        "cv_metric",
        "the metric the task is judged on for promotion (models.registry "
        "PROMOTION_RULES): roc_auc, roc_auc_micro or harrell_c",
    ),
    _computed(
        "cast(json_extract(m.cv_metrics, '$.' || rules.metric || '.mean') as double)",
        "cv_mean",
        "cross-validated mean of cv_metric on the training release (registry cv_metrics JSON)",
    ),
    _computed(
        "cast(json_extract(m.cv_metrics, '$.' || rules.metric || '.std') as double)",
        "cv_std",
        "standard deviation of cv_metric over the CV folds",
    ),
    _computed(
        "cast(json_extract(m.cv_metrics, '$.' || rules.metric || '.folds') as integer)",
        "cv_folds",
        "number of CV folds behind cv_mean",
    ),
    _computed(
        "null",
        "cv_rank",
        "rank within the task by cv_mean over registry models and baselines (1 = best)",
    ),
    _computed(
        "pv.release",
        "prospective_release",
        f"release of the newest prospective validation of this model on cv_metric (cohort {_ARRIVED}); "
        "null when never validated prospectively",
    ),
    _from("pv", _PV, "value", name="prospective_value", note=f"cv_metric on cohort {_ARRIVED}"),
    _from("pv", _PV, "ci_low", name="prospective_ci_low"),
    _from("pv", _PV, "ci_high", name="prospective_ci_high"),
    _from("pv", _PV, "n", name="prospective_n", note=f"cohort {_ARRIVED}"),
    _from("pv", _PV, "below_cv_interval", name="prospective_below_cv_interval"),
    _from("pv", _PV, "note", name="prospective_note"),
    _computed("m.decision_reason", "decision_reason", REGISTRY_COLUMNS["decision_reason"]),
    _computed(
        "'lightgbm (registry)'",
        "model",
        "the model family or recipe: registry rows are LightGBM models; baseline rows name the family and the "
        "feature blocks (models.typing_comparison, models.grading_baselines, models.survival_baselines)",
    ),
    _computed(
        "cast(json_extract(m.cv_metrics, '$.' || rules.metric || '.low') as double)",
        "cv_low",
        "Nadeau-Bengio corrected 95% interval of cv_mean, lower (where the training step stored it)",
    ),
    _computed(
        "cast(json_extract(m.cv_metrics, '$.' || rules.metric || '.high') as double)",
        "cv_high",
        "Nadeau-Bengio corrected 95% interval of cv_mean, upper",
    ),
]
# Baselines (status 'baseline'): other model families and feature blocks cross-validated on the same folds of a
# release. They gate nothing and have no model version; their columns line up with _LEADERBOARD by name.
_BASELINE_ROWS = f"""
        select null as model_version, task, release as training_release, 'baseline' as status, training_rows,
               null::timestamptz as created_at, metric as cv_metric, mean as cv_mean, std as cv_std, folds as cv_folds,
               null as prospective_release, null::double as prospective_value, null::double as prospective_ci_low,
               null::double as prospective_ci_high, null::bigint as prospective_n,
               null::boolean as prospective_below_cv_interval, null as prospective_note,
               'same folds as the registry model of this release; gates nothing' as decision_reason, model,
               low as cv_low, high as cv_high
        from (
            select '{MOLECULAR_TYPE}' as task, release, n_patients as training_rows, metric, mean,
                   null::double as std, folds, recipe as model, low, high
            from {MODELS_TYPING_COMPARISON.qualified_name}
            where metric = '{PROMOTION_RULES[MOLECULAR_TYPE].metric}' and not is_registry_recipe
            union all by name
            select '{GBM_VS_LGG}' as task, release, n_patients as training_rows, metric, mean,
                   null::double as std, folds, model, low, high
            from {MODELS_GRADING_BASELINES.qualified_name}
            where metric = '{PROMOTION_RULES[GBM_VS_LGG].metric}'
            union all by name
            select '{SURVIVAL_RISK}' as task, release, null::bigint as training_rows, metric, mean, std, folds,
                   model, null::double as low, null::double as high
            from {MODELS_SURVIVAL_BASELINES.qualified_name}
            where metric = '{PROMOTION_RULES[SURVIVAL_RISK].metric}' and model <> 'lightgbm_cox'
        )
"""

MODEL_LEADERBOARD = AnalystView(
    name="analytics.model_leaderboard",
    sources=(
        "registry.models",
        "models.prospective_validation",
        MODELS_TYPING_COMPARISON.qualified_name,
        MODELS_GRADING_BASELINES.qualified_name,
        MODELS_SURVIVAL_BASELINES.qualified_name,
    ),
    sql=f"""
        with rules(task, metric, higher_is_better) as (values {_RULES_SQL}),
        validated as (
            select *, row_number() over (
                partition by model_version, metric
                order by (value is not null) desc, {_release_order("release")} desc, release desc
            ) as newest
            from models.prospective_validation
            where cohort = '{_ARRIVED}'
        ),
        board as (
            select {_select_list([c for c in _LEADERBOARD if c.name != "cv_rank"])}
            from registry.models m
            left join rules on rules.task = m.task
            left join validated pv on pv.model_version = m.model_version and pv.metric = rules.metric and pv.newest = 1
            union all by name
            {_BASELINE_ROWS}
        )
        select {", ".join(f'"{c.name}"' if c.name != "cv_rank" else _RANK for c in _LEADERBOARD)}
        from board
        """,
    description=(
        "One row per registered model version, and one per baseline (status 'baseline': another model family, late "
        "fusion or fewer feature blocks on the same folds of a release; no model version, gates nothing): task, "
        "training release, status, the task's promotion metric cross-validated on the training release (mean, std, "
        "interval where stored, rank within the task) and, where the model has been "
        f"validated prospectively, the same metric on the patients it never saw ({_ARRIVED}; newest release "
        "with a value, else the newest) with its bootstrap interval and n."
    ),
    columns=_comments(_LEADERBOARD),
)

# --- analytics.cohort_summary ---------------------------------------------------------------------------------

_COHORT: list[_Column] = [
    _from("p", P, "release"),
    _from("p", P, "project_id"),
    _computed("count(*)", "patients", "patients (harmonised.patients rows) of the release and project"),
    _computed("median(p.age_at_diagnosis_years)", "median_age_years", "median age at diagnosis in years"),
    _computed("count(m.idh_status)", "idh_called", "patients with an IDH call (mutant or wildtype)"),
    _computed(
        "100.0 * count(*) filter (where m.idh_status = 'mutant') / nullif(count(m.idh_status), 0)",
        "pct_idh_mutant",
        "% IDH-mutant among patients with an IDH call (idh_called)",
    ),
    _computed("count(m.codeletion_1p19q)", "codeletion_called", "patients with a 1p/19q call"),
    _computed(
        "100.0 * count(*) filter (where m.codeletion_1p19q) / nullif(count(m.codeletion_1p19q), 0)",
        "pct_1p19q_codeleted",
        "% 1p/19q-codeleted among patients with a 1p/19q call (codeletion_called)",
    ),
    _computed("count(m.mgmt_promoter_methylated)", "mgmt_called", "patients with an MGMT promoter call"),
    _computed(
        "100.0 * count(*) filter (where m.mgmt_promoter_methylated) / nullif(count(m.mgmt_promoter_methylated), 0)",
        "pct_mgmt_methylated",
        "% MGMT promoter methylated among patients with an MGMT call (mgmt_called)",
    ),
    _computed("count(*) filter (where p.death_observed)", "deaths", "patients whose death is observed"),
    _computed(
        f"median(p.overall_survival_days) / {DAYS_PER_MONTH}",
        "median_follow_up_months",
        f"median observed time (diagnosis to death or last follow-up) in months of {DAYS_PER_MONTH} days, over "
        "patients with a survival time (the plain median, not reverse Kaplan-Meier)",
    ),
]

COHORT_SUMMARY = AnalystView(
    name="analytics.cohort_summary",
    sources=("harmonised.patients", "harmonised.molecular_markers"),
    sql=f"""
        select {_select_list(_COHORT)}
        from harmonised.patients p
        left join harmonised.molecular_markers m on m.case_id = p.case_id and m.release = p.release
        group by p.release, p.project_id
        """,
    description=(
        "Per published release and project: patients, median age, % IDH-mutant, % 1p/19q-codeleted, % MGMT "
        "methylated (each among the patients with a call, counted beside it), deaths and median follow-up."
    ),
    columns=_comments(_COHORT),
)

# --- analytics.expression_subtypes -----------------------------------------------------------------------------

EXPRESSION_SUBTYPES = AnalystView(
    name="analytics.expression_subtypes",
    sources=("harmonised.expression_subtypes", "harmonised.patients", "harmonised.who_cns5_class"),
    sql="""
        select s.*, p.submitter_id, p.project_id, w.who_cns5_class, m.idh_status, m.codeletion_1p19q
        from harmonised.expression_subtypes s
        join harmonised.patients p on p.case_id = s.case_id and p.release = s.release
        left join harmonised.who_cns5_class w on w.case_id = s.case_id and w.release = s.release
        left join harmonised.molecular_markers m on m.case_id = s.case_id and m.release = s.release
        """,
    description=(
        "Expression subtype of every patient with expression, every published release (harmonised.expression_subtypes), "
        "beside the project, WHO CNS5 class and IDH / 1p19q status of the same release."
    ),
    columns=described(
        HARMONISED_EXPRESSION_SUBTYPES, HARMONISED_PATIENTS, HARMONISED_WHO_CNS5_CLASS, HARMONISED_MOLECULAR_MARKERS
    ),
)

ANALYST_VIEWS: list[AnalystView] = [
    # The champion's scores of the newest release: what "the current grading score" means.
    _champion_current(SCORES_GRADING),
    _champion_current(SCORES_SURVIVAL_RISK),
    _champion_current(SCORES_MOLECULAR_TYPE),
    AnalystView(
        name="analytics.patient_overview",
        sources=(
            "harmonised.patients_current",
            "harmonised.molecular_markers_current",
            "harmonised.who_cns5_class_current",
        ),
        sql="""
        select p.case_id, p.submitter_id, p.project_id, p.release, p.age_at_diagnosis_years, p.sex,
               p.histology_family, p.who_grade, p.karnofsky_score,
               p.overall_survival_days, p.death_observed,
               m.idh_status, m.codeletion_1p19q, m.chr7_gain_chr10_loss, m.egfr_amplified,
               m.cdkn2a_homozygous_deletion, m.mgmt_promoter_methylated, m.mgmt_stp27_probability,
               w.who_cns5_class, w.who_cns5_grade, w.not_classifiable_reason, w.tmz_relevant
        from harmonised.patients_current p
        left join harmonised.molecular_markers_current m using (case_id)
        left join harmonised.who_cns5_class_current w using (case_id)
        """,
        description="One row per patient of the newest release: clinical, markers and WHO CNS5 class.",
        columns=described(HARMONISED_PATIENTS, HARMONISED_MOLECULAR_MARKERS, HARMONISED_WHO_CNS5_CLASS),
    ),
    PATIENT_SCORES_CURRENT,
    SCORE_HISTORY,
    MODEL_LEADERBOARD,
    COHORT_SUMMARY,
    EXPRESSION_SUBTYPES,
]
