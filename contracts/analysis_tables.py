"""The expression analyses' tables (differential expression, enrichment, subtypes, survival by gene), declared
once like every lake table. Each row says its release, the patients it was computed on (n) and its method. They
are written after a release's scores (the `analyse_expression` job), so they do not hold a release back."""

from __future__ import annotations

import polars as pl

from contracts.table_spec import TableSpec

SUBTYPE_NAMES: tuple[str, ...] = ("classical", "mesenchymal", "proneural")

DIFFERENTIAL_EXPRESSION_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "contrast": pl.String(),
    "numerator_group": pl.String(),
    "reference_group": pl.String(),
    "population": pl.String(),
    "model_derived": pl.Boolean(),
    "n_numerator": pl.Int64(),
    "n_reference": pl.Int64(),
    "gene_id": pl.String(),
    "gene_name": pl.String(),
    "base_mean": pl.Float64(),
    "log2_fold_change": pl.Float64(),
    "log2_fold_change_shrunken": pl.Float64(),
    "log2_fold_change_standard_error": pl.Float64(),
    "wald_statistic": pl.Float64(),
    "p_value": pl.Float64(),
    "adjusted_p_value": pl.Float64(),
    "gene_filter": pl.String(),
    "method": pl.String(),
}

ENRICHMENT_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "contrast": pl.String(),
    "n_numerator": pl.Int64(),
    "n_reference": pl.Int64(),
    "collection": pl.String(),
    "analysis": pl.String(),
    "gene_set": pl.String(),
    "set_size": pl.Int64(),
    "genes_measured": pl.Int64(),
    "enrichment_score": pl.Float64(),
    "normalised_enrichment_score": pl.Float64(),
    "overlap": pl.Int64(),
    "expected_overlap": pl.Float64(),
    "p_value": pl.Float64(),
    "adjusted_p_value": pl.Float64(),
    "leading_edge_genes": pl.String(),
    "method": pl.String(),
}

EXPRESSION_SUBTYPES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "subtype": pl.String(),
    "subtype_p_value": pl.Float64(),
    **{f"{name}_score": pl.Float64() for name in SUBTYPE_NAMES},
    **{f"{name}_p_value": pl.Float64() for name in SUBTYPE_NAMES},
    "centroid_subtype": pl.String(),
    **{f"{name}_centroid_score": pl.Float64() for name in SUBTYPE_NAMES},
    **{f"{name}_genes_measured": pl.Int64() for name in SUBTYPE_NAMES},
    "n_patients": pl.Int64(),
    "permutations": pl.Int64(),
    "method": pl.String(),
}

SURVIVAL_BY_GENE_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "cohort": pl.String(),
    "method": pl.String(),
    "gene_id": pl.String(),
    "gene_name": pl.String(),
    "n_patients": pl.Int64(),
    "n_events": pl.Int64(),
    "n_high": pl.Int64(),
    "hazard_ratio": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "statistic": pl.Float64(),
    "p_value": pl.Float64(),
    "adjusted_p_value": pl.Float64(),
    "cut_point": pl.Float64(),
    "cut_point_searched": pl.Boolean(),
    "note": pl.String(),
}

_GROUPS = {
    "n_numerator": "patients in the numerator group (with expression)",
    "n_reference": "patients in the reference group (with expression)",
}

ANALYTICS_DIFFERENTIAL_EXPRESSION = TableSpec(
    "analytics",
    "differential_expression",
    "Differential expression per release and contrast (DESeq2's method via pydeseq2 on unstranded counts): one row "
    "per tested gene. Contrasts: gbm_vs_lgg, idh_mutant_vs_wildtype, codeleted_vs_non_codeleted (IDH-mutant only) "
    "and high_vs_low_risk (groups from the champion survival model: model_derived). Group labels come from the "
    "lake's harmonised tables of the same release.",
    DIFFERENTIAL_EXPRESSION_SCHEMA,
    {
        "contrast": "which comparison: gbm_vs_lgg, idh_mutant_vs_wildtype, codeleted_vs_non_codeleted, high_vs_low_risk",
        "numerator_group": "group whose expression is in the numerator (positive log2 fold change = higher here)",
        "reference_group": "the reference group",
        "population": "which patients the contrast was computed on",
        "model_derived": "the groups come from a model's output (the survival model's risk groups), not from data",
        **_GROUPS,
        "gene_id": "Ensembl gene id with version (GENCODE v36)",
        "gene_name": "gene symbol (GENCODE v36)",
        "base_mean": "mean of the size-factor-normalised counts over both groups",
        "log2_fold_change": "log2 fold change numerator / reference (maximum likelihood, DESeq2 Wald)",
        "log2_fold_change_shrunken": "log2 fold change shrunken towards 0 (apeGLM prior): use for ranking by effect",
        "log2_fold_change_standard_error": "standard error of log2_fold_change",
        "wald_statistic": "Wald statistic log2_fold_change / standard error",
        "p_value": "Wald test p-value",
        "adjusted_p_value": "Benjamini-Hochberg adjusted p over the contrast's genes; null where DESeq2's independent "
        "filtering or Cook's distance set the gene aside",
        "gene_filter": "which genes were tested (the rest are not in the table)",
        "method": "implementation and version",
    },
    gates_release=False,
)

ANALYTICS_ENRICHMENT = TableSpec(
    "analytics",
    "enrichment",
    "Pathway enrichment of each differential expression contrast on MSigDB Hallmark 7.5.1 (CC BY 4.0): preranked "
    "GSEA of the Wald statistic (analysis = gsea_preranked) and over-representation of the significant genes "
    "(over_representation_up / _down). Sets with fewer than 5 measured genes have null statistics.",
    ENRICHMENT_SCHEMA,
    {
        "contrast": "the differential expression contrast the genes were ranked by",
        **_GROUPS,
        "collection": "gene-set collection and version",
        "analysis": "gsea_preranked, over_representation_up or over_representation_down",
        "gene_set": "gene-set name",
        "set_size": "genes in the set as published",
        "genes_measured": "of them, genes tested in the contrast (a set is judged only on these)",
        "enrichment_score": "GSEA enrichment score",
        "normalised_enrichment_score": "GSEA NES (positive = set higher in the numerator group)",
        "overlap": "over-representation: significant genes in the set",
        "expected_overlap": "over-representation: overlap expected by chance",
        "p_value": "GSEA nominal p (permutation; at least 1/permutations) or hypergeometric p",
        "adjusted_p_value": "GSEA FDR q-value, or Benjamini-Hochberg over sets for over-representation",
        "leading_edge_genes": "GSEA leading-edge genes, or the significant genes in the set (comma-separated)",
        "method": "implementation, version and settings",
    },
    gates_release=False,
)

HARMONISED_EXPRESSION_SUBTYPES = TableSpec(
    "harmonised",
    "expression_subtypes",
    "Expression subtype per patient with expression (Wang et al. 2017: Classical, Mesenchymal, Proneural): the "
    "single-sample GSEA call (GSVA's ssgsea of per-gene standardised expression, empirical p against random gene sets "
    "of the same size; the subtype of smallest p) and a simpler centroid call (mean standardised expression of each subtype's genes).",
    EXPRESSION_SUBTYPES_SCHEMA,
    {
        "subtype": "ssGSEA call: the subtype of smallest empirical p (then highest score)",
        "subtype_p_value": "the called subtype's empirical p",
        **{f"{name}_score": f"normalised ssGSEA score of the {name} genes" for name in SUBTYPE_NAMES},
        **{
            f"{name}_p_value": f"empirical p of the {name} score against random gene sets of the same size"
            for name in SUBTYPE_NAMES
        },
        "centroid_subtype": "centroid call: the subtype of highest mean standardised expression",
        **{f"{name}_centroid_score": f"mean standardised expression of the {name} genes" for name in SUBTYPE_NAMES},
        **{
            f"{name}_genes_measured": f"of the 70 published {name} genes, those in this release (old symbols mapped)"
            for name in SUBTYPE_NAMES
        },
        "n_patients": "patients the scores were standardised and ranked over (the release's patients with expression)",
        "permutations": "random gene sets per subtype for the empirical p",
        "method": "implementation and settings",
    },
    gates_release=False,
)

ANALYTICS_SURVIVAL_BY_GENE = TableSpec(
    "analytics",
    "survival_by_gene",
    "Overall survival by gene expression (log2 normalised count) for every gene, per cohort (gbm, lgg, pooled, "
    "pooled_idh_stratified): Cox hazard ratio per log2 unit (method = cox), and Kaplan-Meier splits at the median "
    "(median_split), at the quartiles (quartile_split, 4 groups) and at the maximally selected log-rank cut-point "
    "(maxstat_split: searched, p corrected by Lausen & Schumacher 1992, hazard ratio optimistic).",
    SURVIVAL_BY_GENE_SCHEMA,
    {
        "cohort": "gbm, lgg, pooled (both projects), pooled_idh_stratified (Cox stratified by IDH status)",
        "method": "cox, median_split, quartile_split or maxstat_split",
        "gene_id": "Ensembl gene id with version (GENCODE v36)",
        "gene_name": "gene symbol (GENCODE v36)",
        "n_patients": "patients with expression and a survival endpoint in the cohort",
        "n_events": "deaths among them",
        "n_high": "splits: patients in the high group (above the cut-point); quartile_split: the top quartile",
        "hazard_ratio": "cox: per one log2 unit; median/maxstat split: high vs low group (Cox on the split)",
        "ci_low": "95% interval of the hazard ratio, lower",
        "ci_high": "95% interval of the hazard ratio, upper",
        "statistic": "cox: Wald z; splits: log-rank chi-square; maxstat: maximal standardised log-rank statistic",
        "p_value": "cox: Wald p; splits: log-rank p; maxstat: corrected for the cut-point search (Lausen 1992)",
        "adjusted_p_value": "Benjamini-Hochberg over the genes of the same cohort and method",
        "cut_point": "splits: the value separating low (<=) from high; maxstat: the searched optimum",
        "cut_point_searched": "the cut-point was chosen to maximise the statistic (optimistic hazard ratio)",
        "note": "how to read the row (e.g. pooled results are confounded by IDH status)",
    },
    gates_release=False,
)

ANALYSIS_TABLES: tuple[TableSpec, ...] = (
    HARMONISED_EXPRESSION_SUBTYPES,
    ANALYTICS_DIFFERENTIAL_EXPRESSION,
    ANALYTICS_ENRICHMENT,
    ANALYTICS_SURVIVAL_BY_GENE,
)
