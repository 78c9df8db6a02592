"""The gene card of `glioma gene` (warehouse.cli): one gene's expression in the newest release by WHO CNS5 class
and IDH status, its differential expression rows, its survival rows, and Kaplan-Meier plots of a median split
within each project. Every figure says its release and n; pooled and searched results say how to read them.

Reads only catalog views (the `_current` ones: the newest published release)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.cli_output import format_table

EXPRESSION_VIEW = "harmonised.expression_current"
DE_VIEW = "analytics.differential_expression_current"
SURVIVAL_VIEW = "analytics.survival_by_gene_current"
GENE_VIEWS = (EXPRESSION_VIEW, "harmonised.who_cns5_class_current", "harmonised.molecular_markers_current")

_BY_CLASS_SQL = f"""
select coalesce(w.who_cns5_class, 'not classifiable') as who_cns5_class,
       coalesce(m.idh_status, 'not profiled') as idh_status,
       count(*) as n_patients,
       round(median(e.log2_normalised_count), 3) as median_log2_normalised,
       round(quantile_cont(e.log2_normalised_count, 0.25), 3) as q25,
       round(quantile_cont(e.log2_normalised_count, 0.75), 3) as q75,
       round(median(e.tpm), 2) as median_tpm
from {EXPRESSION_VIEW} e
left join harmonised.who_cns5_class_current w using (case_id)
left join harmonised.molecular_markers_current m using (case_id)
where e.gene_id = $gene_id
group by all order by 1, 2
"""

_PATIENTS_SQL = f"""
select e.case_id, e.log2_normalised_count, p.project_id, p.overall_survival_days, p.death_observed
from {EXPRESSION_VIEW} e join harmonised.patients_current p using (case_id)
where e.gene_id = $gene_id
"""


def _records(connection: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = connection.execute(sql, params)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def find_gene(connection: duckdb.DuckDBPyConnection, asked: str) -> dict[str, Any] | None:
    """The gene named `asked`: a symbol (case-insensitive), or an Ensembl id with or without its version. The
    lookup reads one tile column range of the expression (its row groups are ordered by gene name)."""
    key = asked.strip()
    columns = f"select distinct gene_id, gene_name, gene_type, release from {EXPRESSION_VIEW}"
    # The exact name first: its row groups are found by their gene_name statistics, so it reads one tile column.
    rows = _records(connection, f"{columns} where gene_name = $key order by gene_id limit 5", {"key": key})
    if not rows:
        rows = _records(
            connection,
            f"{columns} where upper(gene_name) = upper($key) or gene_id = $key or gene_id_unversioned = $key "
            "order by gene_id limit 5",
            {"key": key},
        )
    return rows[0] if rows else None


def gene_data(connection: duckdb.DuckDBPyConnection, gene: dict[str, Any], existing: set[str]) -> dict[str, Any]:
    params = {"gene_id": gene["gene_id"]}
    data: dict[str, Any] = {"gene": gene, "by_class": _records(connection, _BY_CLASS_SQL, params)}
    data["differential_expression"] = (
        _records(
            connection,
            f"select contrast, numerator_group, reference_group, n_numerator, n_reference, model_derived, "
            f"base_mean, log2_fold_change, log2_fold_change_shrunken, log2_fold_change_standard_error, p_value, "
            f"adjusted_p_value from {DE_VIEW} where gene_id = $gene_id order by contrast",
            params,
        )
        if DE_VIEW in existing
        else None
    )
    data["survival"] = (
        _records(
            connection,
            f"select cohort, method, n_patients, n_events, n_high, hazard_ratio, ci_low, ci_high, p_value, "
            f"adjusted_p_value, cut_point, cut_point_searched, note from {SURVIVAL_VIEW} where gene_id = $gene_id "
            "order by cohort, method",
            params,
        )
        if SURVIVAL_VIEW in existing
        else None
    )
    data["patients"] = pl.DataFrame(
        _records(connection, _PATIENTS_SQL, params),
        schema={
            "case_id": pl.String,
            "log2_normalised_count": pl.Float64,
            "project_id": pl.String,
            "overall_survival_days": pl.Float64,
            "death_observed": pl.Boolean,
        },
    )
    return data


def kaplan_meier_plots(data: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """One plot per project: patients above vs at-or-below the project's median expression."""
    from reports.survival_plots import plot_median_split  # matplotlib: only when a plot is asked for

    gene, release = data["gene"]["gene_name"], data["gene"]["release"]
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for project, frame in sorted(data["patients"].group_by("project_id")):
        name = str(project[0]).replace("TCGA-", "")
        result = plot_median_split(
            frame,
            "log2_normalised_count",
            title=f"{gene} in {name}, release {release}: median split of log2 normalised count (n = {frame.height})",
            path=folder / f"km_{gene}_{name.lower()}.png",
        )
        plots.append({"project": project[0], "path": str(result.path), **result.figures})
    return plots


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if isinstance(value, float) and 0 < abs(value) < 10**-digits else f"{value:.{digits}f}"


def gene_card(data: dict[str, Any], plots: list[dict[str, Any]]) -> str:
    gene = data["gene"]
    lines = [
        f"{gene['gene_name']} ({gene['gene_id']}, {gene['gene_type']}), release {gene['release']}",
        "",
        "Expression by WHO CNS5 class and IDH status (log2 normalised count = log2(count / size factor + 1)):",
        format_table(
            ["who_cns5_class", "idh_status", "n", "median", "q25", "q75", "median_tpm"],
            [
                (
                    r["who_cns5_class"],
                    r["idh_status"],
                    r["n_patients"],
                    r["median_log2_normalised"],
                    r["q25"],
                    r["q75"],
                    r["median_tpm"],
                )
                for r in data["by_class"]
            ],
        ),
        "",
    ]
    de = data["differential_expression"]
    if de is None:
        lines.append("Differential expression: not computed for this catalog yet (the analyse_expression job).")
    else:
        lines.append("Differential expression (DESeq2 Wald; + = higher in the first group):")
        lines.append(
            format_table(
                ["contrast", "n", "log2FC", "shrunken", "se", "p", "adj. p"],
                [
                    (
                        r["contrast"] + (" (model-derived)" if r["model_derived"] else ""),
                        f"{r['n_numerator']} vs {r['n_reference']}",
                        _number(r["log2_fold_change"]),
                        _number(r["log2_fold_change_shrunken"]),
                        _number(r["log2_fold_change_standard_error"]),
                        _number(r["p_value"]),
                        _number(r["adjusted_p_value"]),
                    )
                    for r in de
                ]
                or [("(gene not tested: below the gene filter in every contrast)", "", "", "", "", "", "")],
            )
        )
    lines.append("")
    survival = data["survival"]
    if survival is None:
        lines.append("Survival by gene: not computed for this catalog yet (the analyse_expression job).")
    else:
        lines.append("Overall survival (Cox: hazard ratio per log2 unit; splits: high vs low, log-rank p):")
        lines.append(
            format_table(
                ["cohort", "method", "n", "events", "HR", "95% CI", "p", "adj. p", "cut"],
                [
                    (
                        r["cohort"],
                        r["method"] + (" (searched)" if r["cut_point_searched"] else ""),
                        r["n_patients"],
                        r["n_events"],
                        _number(r["hazard_ratio"], 2),
                        "-" if r["ci_low"] is None else f"{r['ci_low']:.2f}-{r['ci_high']:.2f}",
                        _number(r["p_value"]),
                        _number(r["adjusted_p_value"]),
                        _number(r["cut_point"], 2),
                    )
                    for r in survival
                ],
            )
        )
        notes = sorted({part for r in survival if r["note"] for part in r["note"].split("; ")})
        lines.extend(f"note: {note}" for note in notes)
    lines.append("")
    for plot in plots:
        lines.append(
            f"Kaplan-Meier {plot['project']}: {plot['path']} (n = {plot.get('n_patients')}, "
            f"log-rank p = {_number(plot.get('log_rank_p'))})"
        )
    return "\n".join(lines) + "\n"
