"""Column names and types of every table, and the vocabularies they are written in: the one place a schema is
declared. Transforms and models build frames to these; `contracts.tables` adds the descriptions."""

from __future__ import annotations

import polars as pl

from contracts.panels import SSM_PANEL_GENES

# --- vocabularies: WHO grade classes, survival horizons and risk groups (models, scores, catalog)
GRADE_CLASSES: tuple[int, ...] = (2, 3, 4)

DAYS_PER_MONTH = 30.44

SURVIVAL_HORIZONS_MONTHS: tuple[int, ...] = (12, 24, 60)

RISK_GROUPS: tuple[str, ...] = ("low", "intermediate", "high")

# The 3 molecular types of adult diffuse glioma (WHO CNS5's first split), predicted by the typing model.
MOLECULAR_TYPE_CLASSES: tuple[str, ...] = ("idh_wildtype", "idh_mutant_codeleted", "idh_mutant_non_codeleted")

# --- raw: key columns beside the document as GDC returned it
RAW_CASES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "updated_datetime": pl.String(),
    "document": pl.String(),
}

RAW_SSM_OCCURRENCES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "ssm_occurrence_id": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "ssm_id": pl.String(),
    "gene_symbols": pl.List(pl.String()),
    "document": pl.String(),
}

RAW_CNV_OCCURRENCES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "cnv_occurrence_id": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "cnv_id": pl.String(),
    "chromosome": pl.String(),
    "gene_symbols": pl.List(pl.String()),
    "cnv_change": pl.String(),
    "cnv_change_5_category": pl.String(),
    "document": pl.String(),
}

RAW_METHYLATION_FILES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "file_id": pl.String(),
    "file_name": pl.String(),
    "md5sum": pl.String(),
    "file_size": pl.Int64(),
    "platform": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "sample_submitter_id": pl.String(),
    "sample_type": pl.String(),
    "document": pl.String(),
}

RAW_MGMT_PROBE_BETAS_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "file_id": pl.String(),
    "md5sum": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "sample_submitter_id": pl.String(),
    "sample_type": pl.String(),
    "platform": pl.String(),
    "probe_id": pl.String(),
    "beta": pl.Float64(),
    "probe_status": pl.String(),  # measured | NA (masked in the file) | absent (probe not on the array)
}

# --- gene expression: GDC's augmented STAR - Counts files (GDC_API_FACTS.md 4.4, gdc-rnaseq-tool)
STAR_COUNTS_GENE_MODEL_PREFIX = "# gene-model: "
EXPECTED_GENE_MODEL = "GENCODE v36"  # GDC since DR32; a file with another model is reported and set aside
STAR_COUNTS_COLUMNS: tuple[str, ...] = (
    "gene_id",
    "gene_name",
    "gene_type",
    "unstranded",
    "stranded_first",
    "stranded_second",
    "tpm_unstranded",
    "fpkm_unstranded",
    "fpkm_uq_unstranded",
)
STAR_COUNT_COLUMNS: tuple[str, ...] = ("unstranded", "stranded_first", "stranded_second")
STAR_NORMALISED_COLUMNS: tuple[str, ...] = ("tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded")
# GDC writes TPM / FPKM / FPKM-UQ with 4 decimals: kept as exact decimals (stored as 64-bit integers in Parquet,
# which also compress to about half of a float's bytes), so every value is the file's cell, not a float near it.
STAR_DECIMAL = pl.Decimal(18, 4)
# The STAR summary rows GDC writes before the genes: counts only, kept apart as per-file QC.
STAR_SUMMARY_ROWS: tuple[str, ...] = ("N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous")
MAX_GENES_PER_FILE = 60_660  # GENCODE v36 genes GDC quantifies
# One expression sample per case: tumour sample types in order of preference (primary before recurrent), then
# the aliquot barcode, then the file id. Other sample types (normal tissue, cell lines) are never the case's.
EXPRESSION_SAMPLE_TYPE_PREFERENCE: tuple[str, ...] = (
    "Primary Tumor",
    "Recurrent Tumor",
    "Additional - New Primary",
    "Primary Blood Derived Cancer - Peripheral Blood",
)

RAW_EXPRESSION_FILES_SCHEMA: dict[str, pl.DataType] = {
    **RAW_METHYLATION_FILES_SCHEMA,
    "aliquot_submitter_id": pl.String(),
}
RAW_EXPRESSION_FILES_SCHEMA.pop("platform")
RAW_EXPRESSION_FILES_SCHEMA["document"] = RAW_EXPRESSION_FILES_SCHEMA.pop("document")  # last, as in every raw table

RAW_EXPRESSION_COUNTS_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "file_id": pl.String(),
    "md5sum": pl.String(),
    "gene_id": pl.String(),
    "gene_name": pl.String(),
    "gene_type": pl.String(),
    **{column: pl.Int64() for column in STAR_COUNT_COLUMNS},
    **{column: STAR_DECIMAL for column in STAR_NORMALISED_COLUMNS},
}

# One row per expression file of the release: what parsing it found (file-level facts the checks read).
RAW_EXPRESSION_FILE_QC_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "file_id": pl.String(),
    "md5sum": pl.String(),
    "parsed": pl.Boolean(),
    "counts_release": pl.String(),
    "gene_model": pl.String(),
    **{f"{row.lower()}_reads": pl.Int64() for row in STAR_SUMMARY_ROWS},
    "gene_rows": pl.Int64(),
    "library_size": pl.Int64(),
    "genes_detected": pl.Int64(),
    "min_count": pl.Int64(),
    "tpm_sum": pl.Float64(),
    "gene_set_hash": pl.String(),
    "problem_reason": pl.String(),
    "problem_line": pl.Int64(),
    "problem_field": pl.String(),
    "problem_value": pl.String(),
    "problem_detail": pl.String(),
}

HARMONISED_EXPRESSION_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "sample_submitter_id": pl.String(),
    "gene_id": pl.String(),
    "gene_id_unversioned": pl.String(),
    "gene_name": pl.String(),
    "gene_type": pl.String(),
    "unstranded_count": pl.Int64(),
    "tpm": STAR_DECIMAL,
    "fpkm_uq": STAR_DECIMAL,
    "log2_normalised_count": pl.Float64(),
}

HARMONISED_EXPRESSION_SAMPLES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "file_id": pl.String(),
    "md5sum": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "sample_submitter_id": pl.String(),
    "sample_type": pl.String(),
    "aliquot_submitter_id": pl.String(),
    "used": pl.Boolean(),
    "set_aside_reason": pl.String(),
    "gene_model": pl.String(),
    "gene_rows": pl.Int64(),
    "library_size": pl.Int64(),
    "genes_detected": pl.Int64(),
    **{f"{row.lower()}_share": pl.Float64() for row in STAR_SUMMARY_ROWS},
    "min_count": pl.Int64(),
    "tpm_sum": pl.Float64(),
    "gene_set_matches_release": pl.Boolean(),
    "case_in_patients": pl.Boolean(),
    "size_factor": pl.Float64(),
}

# --- quarantine: one row per rejected record, with the reason
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "table": pl.String(),  # raw table the record came from, e.g. "raw/gdc_cases"
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "field": pl.String(),  # dotted GDC path of the offending field, e.g. "demographic.days_to_death"
    "value": pl.String(),  # the offending value as text (JSON for non-scalars), null when missing
    "reason": pl.String(),  # short machine-stable reason code, e.g. "negative_survival_time"
    "detail": pl.String(),  # human sentence naming case, field and value
    "record": pl.String(),  # the whole raw document (JSON) so nothing is lost
}

# --- harmonised
PATIENTS_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "sex": pl.String(),
    "race": pl.String(),
    "ethnicity": pl.String(),
    "age_at_diagnosis_years": pl.Float64(),
    "primary_diagnosis": pl.String(),
    "histology_family": pl.String(),
    "who_grade": pl.Int8(),
    "who_grade_source": pl.String(),
    "who_grade_missing_reason": pl.String(),
    "karnofsky_score": pl.Int16(),
    "received_radiation": pl.Boolean(),
    "received_temozolomide": pl.Boolean(),
    "received_chemotherapy": pl.Boolean(),
    "vital_status": pl.String(),
    "overall_survival_days": pl.Float64(),
    "death_observed": pl.Boolean(),
    "survival_rule": pl.String(),
}

MUTATION_COLUMNS: dict[str, str] = {gene: f"mutation_{gene.lower()}" for gene in SSM_PANEL_GENES}

MOLECULAR_MARKERS_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "ssm_profiled": pl.Boolean(),
    "cnv_profiled": pl.Boolean(),
    **{column: pl.String() for column in MUTATION_COLUMNS.values()},
    "idh_status": pl.String(),
    "idh_hotspot": pl.String(),
    "atrx_status": pl.String(),
    "tp53_status": pl.String(),
    "tert_status": pl.String(),
    "codeletion_1p19q": pl.Boolean(),
    "chr7_gain_chr10_loss": pl.Boolean(),
    "egfr_amplified": pl.Boolean(),
    "cdkn2a_homozygous_deletion": pl.Boolean(),
    "mgmt_stp27_probability": pl.Float64(),
    "mgmt_promoter_methylated": pl.Boolean(),
    "mgmt_source": pl.String(),
    "mgmt_sources_disagree": pl.Boolean(),
}

WHO_CNS5_CLASS_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "submitter_id": pl.String(),
    "project_id": pl.String(),
    "who_cns5_class": pl.String(),
    "who_cns5_grade": pl.Int8(),
    "who_cns5_basis": pl.String(),
    "not_classifiable_reason": pl.String(),
    "tmz_relevant": pl.Boolean(),
}

RELEASE_CHANGES_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.String(),
    "previous_release": pl.String(),
    "release": pl.String(),
    "change": pl.String(),
    "table": pl.String(),
    "field": pl.String(),
    "previous_value": pl.String(),
    "current_value": pl.String(),
}

# --- scores (key: case, release, model version)
GRADING_SCORES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "model_version": pl.String(),  # the GBM-vs-LGG model
    "grade_model_version": pl.String(),  # the WHO grade model (null when none was given)
    "grade_probability_gbm": pl.Float64(),
    "predicted_class": pl.String(),  # GBM / LGG
    **{f"grade_probability_{grade}": pl.Float64() for grade in GRADE_CLASSES},
    "predicted_who_grade": pl.Int8(),
    "explanation": pl.String(),  # why GBM / LGG
    "grade_explanation": pl.String(),  # why the predicted WHO grade
    "prediction_set": pl.String(),  # conformal set of classes, e.g. "GBM" or "GBM|LGG" ("" = empty set)
    "grade_prediction_set": pl.String(),  # conformal set of WHO grades, e.g. "3|4"
    "conformal_coverage": pl.Float64(),  # the coverage the sets are calibrated for (e.g. 0.9)
    "in_training_set": pl.Boolean(),  # the GBM-vs-LGG model was trained on this patient
    "grade_in_training_set": pl.Boolean(),  # the WHO grade model was trained on this patient
    "scored_at": pl.Datetime("us", "UTC"),
}

MOLECULAR_TYPE_SCORES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "model_version": pl.String(),
    "predicted_molecular_type": pl.String(),
    **{f"probability_{name}": pl.Float64() for name in MOLECULAR_TYPE_CLASSES},
    "predicted_probability": pl.Float64(),
    "prediction_set": pl.String(),  # conformal set, e.g. "idh_mutant_codeleted|idh_mutant_non_codeleted"
    "conformal_coverage": pl.Float64(),
    "molecular_type_from_markers": pl.String(),  # null: the markers do not give the type
    "has_expression": pl.Boolean(),
    "known_tabular_features": pl.Int64(),
    "explanation": pl.String(),
    "who_cns5_class_predicted": pl.String(),
    "who_cns5_grade_predicted": pl.Int8(),
    "who_cns5_basis_predicted": pl.String(),
    "in_training_set": pl.Boolean(),
    "scored_at": pl.Datetime("us", "UTC"),
}

# A metric cross-validated on a release's folds: mean over the folds and its Nadeau-Bengio corrected 95 % interval.
CV_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "mean": pl.Float64(),
    "low": pl.Float64(),
    "high": pl.Float64(),
    "folds": pl.Int64(),
}

TYPING_COMPARISON_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "recipe": pl.String(),
    "family": pl.String(),
    "with_expression": pl.Boolean(),
    "with_histology": pl.Boolean(),
    "is_registry_recipe": pl.Boolean(),
    **CV_SUMMARY_SCHEMA,
    "n_patients": pl.Int64(),
    "n_with_expression": pl.Int64(),
}

GRADING_BASELINES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "model": pl.String(),
    **CV_SUMMARY_SCHEMA,
    "n_patients": pl.Int64(),
}

SURVIVAL_SCORES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "model_version": pl.String(),
    "survival_risk_score": pl.Float64(),
    "risk_group": pl.String(),
    **{f"survival_probability_{months}m": pl.Float64() for months in SURVIVAL_HORIZONS_MONTHS},
    "explanation": pl.String(),
    "in_training_set": pl.Boolean(),  # the model was trained on this patient (its score is in-sample)
    "scored_at": pl.Datetime("us", "UTC"),
}

SCORE_KEY: tuple[str, ...] = ("case_id", "release", "model_version")

# --- model validation: one row per metric estimate
ESTIMATE_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "value": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "n": pl.Int64(),
    "n_events": pl.Int64(),
    "note": pl.String(),
}

# The context of a validation, the estimate columns of models.validation, and the champion's CV interval.
PROSPECTIVE_VALIDATION_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in ("release", "task", "model_version", "training_release", "cohort")},
    **ESTIMATE_SCHEMA,
    "cv_mean": pl.Float64(),
    "cv_low": pl.Float64(),
    "cv_high": pl.Float64(),
    "below_cv_interval": pl.Boolean(),
}
