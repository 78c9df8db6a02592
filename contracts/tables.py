"""Every table the pipeline writes, declared once: layer, name, description, columns with their types and
meanings. Asset keys and deps, Dagster column schemas, the catalog's views and comments and the data
dictionary (docs/data_dictionary.md) are all derived from these declarations.

Column types come from `contracts.schemas`, the constants the code that builds each table (transforms/,
models/) writes to, so a declaration cannot drift from what is written; the descriptions live here.
"""

from __future__ import annotations

import polars as pl

from contracts.analysis_tables import ANALYSIS_TABLES
from contracts.features import EXPRESSION_SIGNATURES, FEATURE_SETS, KEY_COLUMNS, LABEL_COLUMNS
from contracts.schemas import (
    GRADE_CLASSES,
    GRADING_BASELINES_SCHEMA,
    GRADING_SCORES_SCHEMA,
    HARMONISED_EXPRESSION_SAMPLES_SCHEMA,
    HARMONISED_EXPRESSION_SCHEMA,
    MOLECULAR_MARKERS_SCHEMA,
    MOLECULAR_TYPE_CLASSES,
    MOLECULAR_TYPE_SCORES_SCHEMA,
    MUTATION_COLUMNS,
    PATIENTS_SCHEMA,
    PROSPECTIVE_VALIDATION_SCHEMA,
    QUARANTINE_SCHEMA,
    RAW_CASES_SCHEMA,
    RAW_CNV_OCCURRENCES_SCHEMA,
    RAW_EXPRESSION_COUNTS_SCHEMA,
    RAW_EXPRESSION_FILE_QC_SCHEMA,
    RAW_EXPRESSION_FILES_SCHEMA,
    RAW_METHYLATION_FILES_SCHEMA,
    RAW_MGMT_PROBE_BETAS_SCHEMA,
    RAW_SSM_OCCURRENCES_SCHEMA,
    RELEASE_CHANGES_SCHEMA,
    STAR_SUMMARY_ROWS,
    SURVIVAL_HORIZONS_MONTHS,
    SURVIVAL_SCORES_SCHEMA,
    TYPING_COMPARISON_SCHEMA,
    WHO_CNS5_CLASS_SCHEMA,
)
from contracts.table_spec import SHARED_COLUMNS, TableSpec  # noqa: F401 (SHARED_COLUMNS re-exported)

_MARKER_GENES = {column: gene for gene, column in MUTATION_COLUMNS.items()}

RAW_STATUS = "status.json"  # the gdc_release asset writes the /status document, not a table

RAW_CASES = TableSpec(
    "raw",
    "gdc_cases",
    "Case documents (demographic, diagnoses, treatments, follow-ups, molecular tests) of the glioma projects, "
    "one row per GDC case hit.",
    RAW_CASES_SCHEMA,
    {"updated_datetime": "GDC updated_datetime of the case (null when the API omits it)"},
)
RAW_SSM_OCCURRENCES = TableSpec(
    "raw",
    "gdc_ssm_occurrences",
    "Somatic mutation occurrences (open, masked) in the gene panel, one row per GDC ssm_occurrence hit.",
    RAW_SSM_OCCURRENCES_SCHEMA,
    {"ssm_occurrence_id": "GDC ssm occurrence UUID", "ssm_id": "GDC simple somatic mutation UUID"},
)
RAW_CNV_OCCURRENCES = TableSpec(
    "raw",
    "gdc_cnv_occurrences",
    "Gene-level copy-number change occurrences for the marker-gene panel (1p, 19q, 7, 10, EGFR, CDKN2A).",
    RAW_CNV_OCCURRENCES_SCHEMA,
    {
        "cnv_occurrence_id": "GDC cnv occurrence UUID",
        "cnv_id": "GDC copy-number variation UUID",
        "chromosome": "chromosome of the gene (chr1 ... chrX)",
        "cnv_change": "GDC cnv_change: Gain or Loss",
        "cnv_change_5_category": "GDC 5-category change: Amplification, Gain, Loss, Homozygous Deletion, ...",
    },
)
RAW_METHYLATION_FILES = TableSpec(
    "raw",
    "gdc_methylation_files",
    "File documents of the open SeSAMe methylation beta-value files (450k/27k/EPIC arrays).",
    RAW_METHYLATION_FILES_SCHEMA,
    {"file_name": "GDC file name", "file_size": "file size in bytes"},
)
RAW_MGMT_PROBE_BETAS = TableSpec(
    "raw",
    "mgmt_probe_betas",
    "Betas of the MGMT-STP27 promoter probes (cg12434587, cg12981137), one row per methylation file and probe. "
    "A file already fetched by an earlier release (same file id and md5) is not downloaded again.",
    RAW_MGMT_PROBE_BETAS_SCHEMA,
    {
        "probe_id": "Illumina probe id",
        "beta": "methylation beta value in [0, 1]; null when NA or absent",
        "probe_status": "measured, NA (in the file, value NA) or absent (not in the file)",
    },
)

_STAR_COUNT_DESCRIPTIONS = {
    "gene_id": "versioned Ensembl gene id as GDC writes it (GENCODE v36), e.g. ENSG00000146648.18",
    "gene_name": "gene symbol (GENCODE v36 gene_name)",
    "gene_type": "GENCODE gene type, e.g. protein_coding, lncRNA",
    "unstranded": "read count, all reads (GDC treats TCGA libraries as unstranded: the count for differential expression)",
    "stranded_first": "read count, first-strand reads",
    "stranded_second": "read count, second-strand reads",
    "tpm_unstranded": "transcripts per million, normalised within the file (not comparable between cases)",
    "fpkm_unstranded": "FPKM, normalised within the file",
    "fpkm_uq_unstranded": "FPKM upper-quartile: normalised by the file's upper-quartile protein-coding count",
}
RAW_EXPRESSION_FILES = TableSpec(
    "raw",
    "gdc_expression_files",
    "File documents of the open RNA-seq gene expression files (Gene Expression Quantification, STAR - Counts).",
    RAW_EXPRESSION_FILES_SCHEMA,
    {
        "file_name": "GDC file name (<file id>.rna_seq.augmented_star_gene_counts.tsv)",
        "file_size": "file size in bytes",
        "aliquot_submitter_id": "TCGA aliquot barcode of the sequenced RNA (cases[].samples[].portions[].analytes[].aliquots[])",
    },
)
RAW_EXPRESSION_COUNTS = TableSpec(
    "raw",
    "expression_counts",
    "Every gene row of every parsed expression file, exactly as GDC wrote it (one row per file and gene; the STAR "
    "summary rows are in raw/expression_file_qc). Each file is stored once, in the partition of the release that "
    "first parsed it (raw/expression_file_qc.counts_release): a later release with the same file id and md5 neither "
    "downloads nor copies it. One row group per file.",
    RAW_EXPRESSION_COUNTS_SCHEMA,
    _STAR_COUNT_DESCRIPTIONS,
    gates_release=True,
)
RAW_EXPRESSION_FILE_QC = TableSpec(
    "raw",
    "expression_file_qc",
    "One row per expression file of the release: the gene model line, the STAR summary rows, gene rows, library size, "
    "and the first problem that made the file unusable (file, line, field, value), if any.",
    RAW_EXPRESSION_FILE_QC_SCHEMA,
    {
        "parsed": "the file parsed completely and its rows are in raw/expression_counts",
        "counts_release": "the release whose raw/expression_counts partition holds the file's rows (the first that "
        "parsed it; null when not parsed)",
        "gene_model": "the file's `# gene-model:` line, e.g. GENCODE v36",
        **{f"{row.lower()}_reads": f"STAR summary row {row} (unstranded reads)" for row in STAR_SUMMARY_ROWS},
        "gene_rows": "gene rows in the file (at most 60,660)",
        "library_size": "sum of the unstranded counts over the genes",
        "genes_detected": "genes with an unstranded count above 0",
        "min_count": "smallest count in the three count columns",
        "tpm_sum": "sum of tpm_unstranded over the genes (about 1,000,000)",
        "gene_set_hash": "hash of the file's ordered gene ids: equal for files with the same gene set",
        "problem_reason": "why the file cannot be used, e.g. expression_non_numeric_cell (null when parsed)",
        "problem_line": "1-based line of the file where the problem is",
        "problem_field": "column (or part of the file) with the problem",
        "problem_value": "the offending text, cut at 200 characters",
        "problem_detail": "sentence naming the file, line, field and value",
    },
)
HARMONISED_EXPRESSION = TableSpec(
    "harmonised",
    "expression",
    "Gene expression, one row per (case, sample, gene) for the one expression sample of each patient: counts, TPM, "
    "FPKM-UQ and log2(count / size factor + 1), the value to compare cases on. Row groups are tiles of up to 128 "
    "patients x 1,024 genes ordered by gene name, so one gene across all patients and one patient across all genes "
    "each read a few row groups.",
    HARMONISED_EXPRESSION_SCHEMA,
    {
        "sample_submitter_id": "TCGA sample barcode of the case's expression sample (harmonised/expression_samples)",
        "gene_id": _STAR_COUNT_DESCRIPTIONS["gene_id"],
        "gene_id_unversioned": "Ensembl gene id without its version (ENSG00000146648; _PAR_Y kept)",
        "gene_name": _STAR_COUNT_DESCRIPTIONS["gene_name"],
        "gene_type": _STAR_COUNT_DESCRIPTIONS["gene_type"],
        "unstranded_count": "unstranded read count of the gene (the file's `unstranded`)",
        "tpm": "the file's tpm_unstranded (within-file; do not compare between cases)",
        "fpkm_uq": "the file's fpkm_uq_unstranded",
        "log2_normalised_count": "log2(unstranded count / size factor + 1), the size factor by DESeq2's median of ratios "
        "over the release's expression samples: comparable between cases of the release",
    },
)
HARMONISED_EXPRESSION_SAMPLES = TableSpec(
    "harmonised",
    "expression_samples",
    "One row per expression file of the release: its sample, QC figures, and whether it is the case's expression "
    "sample (used) or set aside with the reason. Files = used + set aside (checked).",
    HARMONISED_EXPRESSION_SAMPLES_SCHEMA,
    {
        "aliquot_submitter_id": "TCGA aliquot barcode of the sequenced RNA",
        "used": "the file is the case's expression sample in harmonised/expression",
        "set_aside_reason": "why the file is not used (also in harmonised/quarantine); null when used",
        "gene_model": "the file's gene model, e.g. GENCODE v36",
        "gene_rows": "gene rows in the file",
        "library_size": "sum of unstranded gene counts",
        "genes_detected": "genes with an unstranded count above 0",
        **{
            f"{row.lower()}_share": f"STAR {row} reads as a share of all reads (genes + the four summary rows)"
            for row in STAR_SUMMARY_ROWS
        },
        "min_count": "smallest count in the file",
        "tpm_sum": "sum of TPM over the genes",
        "gene_set_matches_release": "the file lists exactly the release's genes (those of most files)",
        "case_in_patients": "the case is in harmonised/patients of the release",
        "size_factor": "DESeq2 median-of-ratios size factor over the release's used samples (null when not used)",
    },
    lookup_order=("submitter_id", "case_id"),
)

_PATIENT_COLUMNS = {
    "sex": "female / male / null (sex_at_birth, else gender)",
    "race": "GDC race, mapped vocabulary; null for sentinels like 'not reported'",
    "ethnicity": "GDC ethnicity, mapped vocabulary; null for sentinels",
    "age_at_diagnosis_years": "age at diagnosis in years (age_at_diagnosis days / 365.25, fallback age_at_index)",
    "primary_diagnosis": "GDC primary_diagnosis text as recorded",
    "histology_family": "glioblastoma / astrocytoma / oligodendroglioma / oligoastrocytoma / other",
    "who_grade": "WHO grade 2/3/4 as recorded (tumor_grade, or 4 for TCGA-GBM); null when unknown",
    "who_grade_source": "where who_grade came from: tumor_grade or project_gbm",
    "who_grade_missing_reason": "why who_grade is null",
    "karnofsky_score": "Karnofsky performance score (0-100)",
    "received_radiation": "radiation therapy recorded (null = not recorded)",
    "received_temozolomide": "temozolomide recorded (null = not recorded)",
    "received_chemotherapy": "any chemotherapy recorded (null = not recorded)",
    "vital_status": "Alive / Dead / null",
    "overall_survival_days": "overall survival time in days from diagnosis (death or last follow-up)",
    "death_observed": "true when the patient died (event), false when censored",
    "survival_rule": "which branch of the survival rule produced the endpoint",
}
HARMONISED_PATIENTS = TableSpec(
    "harmonised",
    "patients",
    "One row per patient: demographics, diagnosis, WHO grade, Karnofsky, treatments and the overall-survival "
    "endpoint, read correctly from every GDC release profile.",
    PATIENTS_SCHEMA,
    _PATIENT_COLUMNS,
    lookup_order=("submitter_id", "case_id"),
)
_QUARANTINE_COLUMNS = {
    "table": "raw table (and part) the rejected record came from, e.g. raw/gdc_cases",
    "field": "dotted GDC path of the offending field, e.g. demographic.days_to_death",
    "value": "the offending value as text (JSON for non-scalars; cut at 500 characters, the whole value is in record)",
    "reason": "machine-stable reason code, e.g. negative_survival_time",
    "detail": "sentence naming the case, field and value",
    "record": "the whole raw record (JSON), so nothing is lost",
}
HARMONISED_PATIENT_REJECTS = TableSpec(
    "harmonised",
    "patient_rejects",
    "Case documents (or parts) rejected while harmonising patients, with the reason; part of harmonised/quarantine.",
    QUARANTINE_SCHEMA,
    _QUARANTINE_COLUMNS,
    in_catalog=False,
)
_MARKER_COLUMNS = {
    "ssm_profiled": "the case has somatic mutation data (available_variation_data contains ssm)",
    "cnv_profiled": "the case has copy-number data (available_variation_data contains cnv)",
    **{
        column: f"{gene} mutation status: mutant / wildtype / null (not profiled)"
        for column, gene in _MARKER_GENES.items()
    },
    "idh_status": "IDH1/IDH2 hotspot status: mutant / wildtype / null (not profiled)",
    "idh_hotspot": "the IDH hotspot found, e.g. IDH1 R132H",
    "atrx_status": "ATRX status: mutant / wildtype / null",
    "tp53_status": "TP53 status: mutant / wildtype / null",
    "tert_status": "TERT promoter status: mutant or null (exome data does not cover the promoter)",
    "codeletion_1p19q": "whole-arm 1p and 19q loss (>= 80% of marker genes per arm)",
    "chr7_gain_chr10_loss": "chromosome 7 gain with chromosome 10 loss (7+/10-)",
    "egfr_amplified": "EGFR amplification",
    "cdkn2a_homozygous_deletion": "CDKN2A/B homozygous deletion",
    "mgmt_stp27_probability": "MGMT-STP27 probability of promoter methylation",
    "mgmt_promoter_methylated": "MGMT promoter methylated (STP27 probability >= 0.358, else clinical test)",
    "mgmt_source": "methylation_stp27 or clinical_molecular_test",
    "mgmt_sources_disagree": "both sources exist and disagree (null unless both exist)",
}
HARMONISED_MOLECULAR_MARKERS = TableSpec(
    "harmonised",
    "molecular_markers",
    "Per patient: panel gene mutation status, IDH, ATRX, TP53, TERT, 1p/19q codeletion, 7+/10-, EGFR amplification, "
    "CDKN2A homozygous deletion, MGMT promoter methylation (MGMT-STP27) with its source.",
    MOLECULAR_MARKERS_SCHEMA,
    _MARKER_COLUMNS,
    lookup_order=("case_id",),
)
HARMONISED_MARKER_REJECTS = TableSpec(
    "harmonised",
    "marker_rejects",
    "Occurrences, betas and molecular tests rejected while calling markers, with the reason; part of "
    "harmonised/quarantine.",
    QUARANTINE_SCHEMA,
    _QUARANTINE_COLUMNS,
    in_catalog=False,
)
HARMONISED_EXPRESSION_REJECTS = TableSpec(
    "harmonised",
    "expression_rejects",
    "Expression files set aside (another sample of the case is used) or unusable (truncated, a non-numeric cell, a "
    "wrong header, a duplicate gene, ...), with file, case, line and value; part of harmonised/quarantine.",
    QUARANTINE_SCHEMA,
    _QUARANTINE_COLUMNS,
    in_catalog=False,
)
HARMONISED_WHO_CNS5_CLASS = TableSpec(
    "harmonised",
    "who_cns5_class",
    "WHO CNS5 (2021) integrated diagnosis from the markers, with the rule that applied or the missing marker.",
    WHO_CNS5_CLASS_SCHEMA,
    {
        "who_cns5_class": "glioblastoma, IDH-wildtype / astrocytoma, IDH-mutant / oligodendroglioma, IDH-mutant and "
        "1p/19q-codeleted / not classifiable",
        "who_cns5_grade": "CNS WHO grade 2/3/4 of the integrated class",
        "who_cns5_basis": "the rule and markers that gave the class",
        "not_classifiable_reason": "the missing marker when the class is not classifiable",
        "tmz_relevant": "MGMT promoter methylated: temozolomide benefit expected",
    },
    lookup_order=("case_id",),
)
HARMONISED_QUARANTINE = TableSpec(
    "harmonised",
    "quarantine",
    "Every rejected raw record with table, case, field, value and reason. For every release: raw cases = "
    "patients + quarantined cases (checked).",
    QUARANTINE_SCHEMA,
    _QUARANTINE_COLUMNS,
)

HARMONISED_RELEASE_CHANGES = TableSpec(
    "harmonised",
    "release_changes",
    "Per patient, what changed since the previous release: added, removed, or changed with each harmonised "
    "field's old and new value (patients and molecular markers), and which cases gained, lost or changed expression "
    "(table harmonised/expression_samples: a new sample, file id or md5). Explains why a score moved.",
    RELEASE_CHANGES_SCHEMA,
    {
        "previous_release": "the release compared with (null for the first release)",
        "change": "added, removed or changed (for harmonised/expression_samples: the case gained, lost or changed "
        "its expression sample)",
        "table": "harmonised table the field belongs to",
        "field": "column that changed (null for added/removed)",
        "previous_value": "value in the previous release, as text",
        "current_value": "value in this release, as text",
    },
)

_ALL_FEATURES: tuple[str, ...] = tuple(dict.fromkeys(f for features in FEATURE_SETS.values() for f in features))
_MATRIX_SCHEMA: dict[str, pl.DataType] = {
    **{column: pl.String() for column in KEY_COLUMNS},
    **{feature: pl.Float64() for feature in _ALL_FEATURES},
    "label_gbm": pl.Int8(),
    "label_who_grade": pl.Int8(),
    "overall_survival_days": pl.Float64(),
    "death_observed": pl.Boolean(),
}
assert set(LABEL_COLUMNS) <= set(_MATRIX_SCHEMA)


def _feature_description(feature: str) -> str:
    """Features are harmonised columns encoded as Float64 (true/mutant 1.0, false/wildtype 0.0, null missing)."""
    if feature == "sex_male":
        return "feature: 1.0 male, 0.0 female, null unknown"
    if feature in EXPRESSION_SIGNATURES:
        source, name = EXPRESSION_SIGNATURES[feature]
        return (
            f"feature: mean log2 normalised expression of the {name} genes ({source}; analyses.signatures), "
            "null without expression"
        )
    if feature == "idh_mutant_predicted_probability":
        return (
            "feature: P(IDH mutant) from the molecular typing champion (scores/molecular_type), only where the IDH "
            "call is missing (else null: idh_mutant holds it)"
        )
    if feature == "codeletion_predicted_probability":
        return (
            "feature: P(1p/19q codeleted) from the molecular typing champion (given IDH mutant where that is known), "
            "only where the 1p/19q call is missing (else null: codeletion_1p19q holds it)"
        )
    source = feature.replace("_mutant", "_status")
    for columns in (_MARKER_COLUMNS, _PATIENT_COLUMNS):
        if source in columns:
            return f"feature from {source}: {columns[source]} (Float64, null = missing)"
    raise KeyError(f"feature {feature!r} has no source column description")


FEATURES_MODEL_MATRIX = TableSpec(
    "features",
    "model_matrix",
    "One row per patient: model features (Float64, missing stays missing) and label columns; the per-task feature "
    "lists and the feature-set version are recorded in features/feature_list.",
    _MATRIX_SCHEMA,
    {
        **{feature: _feature_description(feature) for feature in _ALL_FEATURES},
        "label_gbm": "label: 1 TCGA-GBM, 0 TCGA-LGG (never a grading feature)",
        "label_who_grade": "label: recorded WHO grade 2/3/4 (never a grading feature)",
        "overall_survival_days": "label: overall survival time in days",
        "death_observed": "label: true when the death was observed, false when censored",
    },
)
FEATURES_FEATURE_LIST = TableSpec(
    "features",
    "feature_list",
    "The recorded feature list of each task: exactly the columns a model of that task may read, in order.",
    {
        "feature_set_version": pl.String(),
        "task": pl.String(),
        "position": pl.Int32(),
        "feature": pl.String(),
        "release": pl.String(),
    },
    {"position": "0-based position of the feature in the model's input", "feature": "model matrix column"},
)

SCORES_GRADING = TableSpec(
    "scores",
    "grading",
    "Per patient, release and model version: GBM probability, WHO grade probabilities, predicted class and the top "
    "three feature contributions in words. History kept; scores.grading_current picks the champion.",
    GRADING_SCORES_SCHEMA,
    {
        "model_version": "the GBM-vs-LGG model version",
        "grade_model_version": "the WHO grade model version",
        "grade_probability_gbm": "calibrated probability that the tumour is GBM (vs LGG)",
        "predicted_class": "GBM or LGG (probability >= 0.5)",
        **{f"grade_probability_{g}": f"calibrated probability of WHO grade {g}" for g in GRADE_CLASSES},
        "predicted_who_grade": "most probable WHO grade",
        "grade_explanation": "why the predicted WHO grade, in words",
        "prediction_set": "split-conformal prediction set of GBM/LGG at conformal_coverage, e.g. GBM or GBM|LGG",
        "grade_prediction_set": "split-conformal prediction set of WHO grades at conformal_coverage, e.g. 3|4",
        "conformal_coverage": "coverage the prediction sets are calibrated for (out-of-fold, split conformal)",
        "in_training_set": "the scoring model was trained on this patient: the score is in-sample, not a prediction",
        "grade_in_training_set": "the WHO grade model was trained on this patient",
    },
    current_by_champion=True,
)
SCORES_SURVIVAL_RISK = TableSpec(
    "scores",
    "survival_risk",
    "Per patient, release and model version: Cox risk score, risk group (cut points fixed on training data), "
    "S(12/24/60 months) and the top three contributions in words. History kept.",
    SURVIVAL_SCORES_SCHEMA,
    {
        "survival_risk_score": "log relative hazard from the LightGBM Cox model (higher = worse prognosis)",
        "risk_group": "low / intermediate / high (tertile cut points fixed on the training folds)",
        **{
            f"survival_probability_{m}m": f"predicted probability of surviving {m} months"
            for m in SURVIVAL_HORIZONS_MONTHS
        },
        "in_training_set": "the scoring model was trained on this patient: the score is in-sample, not a prediction",
    },
    current_by_champion=True,
)

SCORES_MOLECULAR_TYPE = TableSpec(
    "scores",
    "molecular_type",
    "Per patient, release and model version: the molecular type (IDH-wildtype / IDH-mutant 1p/19q-codeleted / "
    "IDH-mutant non-codeleted) predicted from expression, the other markers, histology and age, with its conformal "
    "set and explanation; for patients whose markers do not give the type, the WHO CNS5 class predicted with it. "
    "History kept.",
    MOLECULAR_TYPE_SCORES_SCHEMA,
    {
        "model_version": "the molecular typing model version (registry task molecular_type)",
        "predicted_molecular_type": "most probable of " + ", ".join(MOLECULAR_TYPE_CLASSES),
        **{f"probability_{name}": f"predicted probability of {name}" for name in MOLECULAR_TYPE_CLASSES},
        "predicted_probability": "probability of the predicted type",
        "prediction_set": "split-conformal prediction set of types at conformal_coverage, joined by |",
        "conformal_coverage": "coverage the prediction sets are calibrated for (out-of-fold, split conformal)",
        "molecular_type_from_markers": "the type the patient's IDH and 1p/19q calls give (null: not determined; "
        "these patients are what the model is for)",
        "has_expression": "the patient has RNA-seq expression in this release",
        "known_tabular_features": "how many of the model's non-expression features are known for the patient",
        "explanation": "which features moved the predicted type, in words (exact TreeSHAP)",
        "who_cns5_class_predicted": "WHO CNS5 class by transforms.who_cns5's rule with IDH and 1p/19q from the "
        "predicted type (the calls the markers did make are kept); null when the markers give the type or the rule "
        "still cannot classify",
        "who_cns5_grade_predicted": "CNS WHO grade of who_cns5_class_predicted",
        "who_cns5_basis_predicted": "says it is predicted, with the type, its probability and the rule that applied",
        "in_training_set": "the typing model was trained on this patient: the score is in-sample, not a prediction",
    },
    current_by_champion=True,
    # Scored in the refresh like the other scores, but a lake from before the typing model must not hold its
    # published releases back until they are rescored.
    gates_release=False,
)

MODELS_PROSPECTIVE_VALIDATION = TableSpec(
    "models",
    "prospective_validation",
    "The champion's metrics on patients it never saw (arrived after its training release) and on training patients "
    "whose outcome changed, with n, bootstrap 95% intervals and the champion's own CV interval. History kept: one set "
    "of rows per release and model version that was champion when the release was scored.",
    PROSPECTIVE_VALIDATION_SCHEMA,
    {
        "training_release": "release the champion was trained on",
        "cohort": "arrived_after_training or outcome_changed",
        "metric": "roc_auc, accuracy, brier, calibration_slope/intercept, ece, ece_noise_floor, roc_auc_micro, "
        "conformal_coverage, harrell_c, uno_c, td_auc_<h>m, ibs",
        "value": "point estimate on the cohort (null when undefined; see note)",
        "ci_low": "bootstrap 95% interval, lower (for ece_noise_floor: the null range of a calibrated model)",
        "ci_high": "bootstrap 95% interval, upper",
        "n": "patients in the cohort the metric was computed on",
        "n_events": "deaths among them (survival metrics)",
        "note": "why a metric is undefined, or how it was computed",
        "cv_mean": "the champion's cross-validated mean of the same metric on its training release",
        "cv_low": "CV mean - 1.96 sd over folds",
        "cv_high": "CV mean + 1.96 sd over folds",
        "below_cv_interval": "the prospective value is below the champion's CV interval (performance decay)",
    },
)

MODELS_SURVIVAL_BASELINES = TableSpec(
    "models",
    "survival_baselines",
    "Leaderboard of survival models cross-validated in the same folds of a release: the LightGBM Cox recipe next to "
    "scikit-survival CoxPH (ridge), RandomSurvivalForest and GradientBoostingSurvivalAnalysis.",
    {
        "release": pl.String(),
        "model": pl.String(),
        "metric": pl.String(),
        "mean": pl.Float64(),
        "std": pl.Float64(),
        "folds": pl.Int64(),
    },
    {
        "model": "lightgbm_cox, sksurv_coxph, sksurv_rsf (random survival forest) or sksurv_gbsa (gradient boosting)",
        "metric": "harrell_c, uno_c, td_auc_<h>m, ibs",
        "mean": "mean over the CV folds",
        "std": "standard deviation over the CV folds",
        "folds": "number of folds",
    },
    gates_release=False,
)

_CV_SUMMARY_COLUMNS = {
    "mean": "mean over the CV folds",
    "low": "Nadeau-Bengio corrected 95% interval of the mean, lower",
    "high": "Nadeau-Bengio corrected 95% interval of the mean, upper",
    "folds": "number of folds",
}
MODELS_GRADING_BASELINES = TableSpec(
    "models",
    "grading_baselines",
    "GBM vs LGG by the classic classifiers (logistic regression, calibrated SVM, random forest, MLP), cross-validated "
    "on the folds and features of the registry's LightGBM for a release, with Nadeau-Bengio intervals. Gates nothing.",
    GRADING_BASELINES_SCHEMA,
    {
        "model": "logistic_regression, svm_rbf_calibrated, random_forest or mlp (scikit-learn)",
        "metric": "roc_auc, accuracy, f1, brier, ece",
        **_CV_SUMMARY_COLUMNS,
        "n_patients": "patients with a GBM/LGG label",
    },
    gates_release=False,
)

MODELS_TYPING_COMPARISON = TableSpec(
    "models",
    "typing_comparison",
    "Molecular typing recipes cross-validated on the same folds of a release: LightGBM (the registry recipe, early "
    "fusion), late fusion of per-block models, logistic regression, calibrated SVM, random forest and MLP, and "
    "LightGBM without expression and/or histology. Gates nothing.",
    TYPING_COMPARISON_SCHEMA,
    {
        "recipe": "model family and the feature blocks it sees",
        "family": "lightgbm, late_fusion, logistic_regression, svm_rbf_calibrated, random_forest or mlp",
        "with_expression": "the recipe sees expression (50 genes chosen by ANOVA F inside each training fold)",
        "with_histology": "the recipe sees histology and the pathologist's grade",
        "is_registry_recipe": "the recipe the registry's typing model is trained with",
        "metric": "roc_auc_macro, roc_auc_<class>, accuracy, f1_macro, brier, ece, ...; pooled_roc_auc_macro_with/"
        "without_expression: out-of-fold predictions pooled over the folds of the first repeat",
        **_CV_SUMMARY_COLUMNS,
        "mean": "mean over the CV folds (pooled metrics: the pooled value)",
        "low": "Nadeau-Bengio corrected 95% interval of the mean, lower (null for pooled metrics)",
        "folds": "number of folds (pooled metrics: number of patients)",
        "n_patients": "patients with a molecular type from their markers (the labelled ones)",
        "n_with_expression": "of them, with expression",
    },
    gates_release=False,
)

OPS_RUN_FAILURES = TableSpec(
    "ops",
    "run_failures",
    "One row per failed Dagster run (written by the run-failure sensor): which release, which step, the error.",
    {
        "run_id": pl.String(),
        "job_name": pl.String(),
        "release": pl.String(),
        "failed_steps": pl.String(),
        "error": pl.String(),
        "failed_at": pl.Datetime("us", "UTC"),
        "recorded_at": pl.Datetime("us", "UTC"),
    },
    {
        "run_id": "Dagster run id",
        "job_name": "Dagster job of the run",
        "release": "GDC release (partition) the run was for; null for unpartitioned runs",
        "failed_steps": "comma-separated step keys that failed",
        "error": "the first failure's error message",
        "failed_at": "time Dagster recorded the failure",
        "recorded_at": "time the failure sensor wrote the row",
    },
    partitioned=False,
)

LAKE_TABLES: tuple[TableSpec, ...] = (
    RAW_CASES,
    RAW_SSM_OCCURRENCES,
    RAW_CNV_OCCURRENCES,
    RAW_METHYLATION_FILES,
    RAW_MGMT_PROBE_BETAS,
    RAW_EXPRESSION_FILES,
    RAW_EXPRESSION_COUNTS,
    RAW_EXPRESSION_FILE_QC,
    HARMONISED_PATIENTS,
    HARMONISED_PATIENT_REJECTS,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_MARKER_REJECTS,
    HARMONISED_WHO_CNS5_CLASS,
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_EXPRESSION_REJECTS,
    HARMONISED_QUARANTINE,
    HARMONISED_RELEASE_CHANGES,
    FEATURES_MODEL_MATRIX,
    FEATURES_FEATURE_LIST,
    SCORES_GRADING,
    SCORES_SURVIVAL_RISK,
    SCORES_MOLECULAR_TYPE,
    MODELS_PROSPECTIVE_VALIDATION,
    MODELS_SURVIVAL_BASELINES,
    MODELS_GRADING_BASELINES,
    MODELS_TYPING_COMPARISON,
    *ANALYSIS_TABLES,
    OPS_RUN_FAILURES,
)
TABLES_BY_PATH: dict[str, TableSpec] = {table.path: table for table in LAKE_TABLES}
CATALOG_TABLES: tuple[TableSpec, ...] = tuple(table for table in LAKE_TABLES if table.in_catalog)
# Partitioned tables without a catalog view (the rejects): committed with their release all the same.
UNLISTED_TABLES: tuple[TableSpec, ...] = tuple(t for t in LAKE_TABLES if t.partitioned and not t.in_catalog)
