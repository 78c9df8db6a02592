"""The analysts' SQL entry points beyond one view per lake table (`<layer>.<table>` and
`<layer>.<table>_current`, made by warehouse.catalog).

Each view names the views it reads (`sources`): it is created only when they exist, so a partly built
lake still gets a valid catalog. `{latest_release}` in the SQL stands for the newest published release.
Column comments come from the declarations of the tables the columns come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warehouse.tables import (
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    HARMONISED_WHO_CNS5_CLASS,
    SCORES_GRADING,
    SCORES_SURVIVAL_RISK,
    TableSpec,
)


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


ANALYST_VIEWS: list[AnalystView] = [
    # The champion's scores of the newest release: what "the current grading score" means.
    _champion_current(SCORES_GRADING),
    _champion_current(SCORES_SURVIVAL_RISK),
    AnalystView(
        name="analytics.patient_overview",
        sources=("harmonised.patients_current", "harmonised.molecular_markers_current",
                 "harmonised.who_cns5_class_current"),
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
]
