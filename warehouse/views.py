"""The analysts' SQL entry points beyond one view per lake table (`<layer>.<table>` and
`<layer>.<table>_current`, made by warehouse.catalog).

Each entry: (qualified view name, source views it needs, select SQL). Created only when the sources
exist, so a partly built lake still gets a valid catalog. `{latest_release}` in the SQL stands for the
newest release (numeric order: 9.0 < 45.0) of the first source table.
"""

from __future__ import annotations

ANALYST_VIEWS: list[tuple[str, tuple[str, ...], str]] = [
    (
        # The champion's scores of the newest release: what "the current grading score" means.
        "scores.grading_current",
        ("scores.grading", "registry.models"),
        """
        select s.* from scores.grading s
        join registry.models m on m.model_version = s.model_version and m.status = 'champion'
        where s.release = {latest_release}
        """,
    ),
    (
        "scores.survival_risk_current",
        ("scores.survival_risk", "registry.models"),
        """
        select s.* from scores.survival_risk s
        join registry.models m on m.model_version = s.model_version and m.status = 'champion'
        where s.release = {latest_release}
        """,
    ),
    (
        # One row per patient of the newest release: clinical, markers, WHO class and both scores.
        "analytics.patient_overview",
        ("harmonised.patients_current", "harmonised.molecular_markers_current", "harmonised.who_cns5_class_current"),
        """
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
    ),
]
