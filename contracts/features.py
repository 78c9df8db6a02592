"""The model matrix's feature lists per task, its label and key columns, and the feature-set version:
declared once, read by the feature builder, the models and the table declarations."""

from __future__ import annotations

import hashlib

from contracts.panels import SSM_PANEL_GENES
from contracts.schemas import MOLECULAR_TYPE_CLASSES  # noqa: F401 (declared with the vocabularies; re-exported)

# Genes whose mutation calls reach the matrix through a dedicated marker-status column instead
# (idh_status merges IDH1/IDH2; atrx/tp53/tert status may carry more evidence than the ssm panel),
# so one biological fact is one feature and explanations do not split its credit.
GENES_COVERED_BY_STATUS: frozenset[str] = frozenset({"IDH1", "IDH2", "ATRX", "TP53", "TERT"})

MUTATION_FEATURES: tuple[str, ...] = tuple(
    f"mutation_{gene.lower()}" for gene in SSM_PANEL_GENES if gene not in GENES_COVERED_BY_STATUS
)

# feature name -> (source table, source column, how it is encoded)
STATUS_FEATURES: dict[str, str] = {
    "idh_mutant": "idh_status",
    "atrx_mutant": "atrx_status",
    "tp53_mutant": "tp53_status",
    "tert_mutant": "tert_status",
}

BOOL_MARKER_FEATURES: tuple[str, ...] = (
    "codeletion_1p19q",
    "chr7_gain_chr10_loss",
    "egfr_amplified",
    "cdkn2a_homozygous_deletion",
    "mgmt_promoter_methylated",
)

TREATMENT_FEATURES: tuple[str, ...] = ("received_radiation", "received_temozolomide", "received_chemotherapy")

BASE_FEATURES: tuple[str, ...] = (
    "age_at_diagnosis_years",
    "sex_male",
    "karnofsky_score",
    *STATUS_FEATURES,
    *BOOL_MARKER_FEATURES,
    "mgmt_stp27_probability",
    *MUTATION_FEATURES,
)

# Expression signatures: a patient's mean log2 normalised expression over a fixed published gene set
# (analyses.signatures). Nothing is fitted and no label or other patient is read, so a signature has the same value
# in every CV fold: no selection can leak. Null for a patient without expression.
EXPRESSION_SIGNATURES: dict[str, tuple[str, str]] = {
    "signature_classical": ("wang2017", "Classical"),
    "signature_mesenchymal": ("wang2017", "Mesenchymal"),
    "signature_proneural": ("wang2017", "Proneural"),
    "signature_g2m_checkpoint": ("hallmark", "HALLMARK_G2M_CHECKPOINT"),
    "signature_e2f_targets": ("hallmark", "HALLMARK_E2F_TARGETS"),
    "signature_hypoxia": ("hallmark", "HALLMARK_HYPOXIA"),
    "signature_emt": ("hallmark", "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION"),
    "signature_interferon_gamma": ("hallmark", "HALLMARK_INTERFERON_GAMMA_RESPONSE"),
}
# The molecular typing model's output where the marker is missing, null where it is known (then `idh_mutant` /
# `codeletion_1p19q` hold it): one fact, one feature. The typing recipe these come from sees no histology or grade,
# so they carry no grading label.
PREDICTED_MARKER_FEATURES: tuple[str, ...] = ("idh_mutant_predicted_probability", "codeletion_predicted_probability")
OMICS_FEATURES: tuple[str, ...] = (*EXPRESSION_SIGNATURES, *PREDICTED_MARKER_FEATURES)

# Grading (GBM vs LGG; WHO grade 2/3/4): patient and tumour biology measured at diagnosis only.
GRADING_FEATURES: tuple[str, ...] = (*BASE_FEATURES, *OMICS_FEATURES)

# Survival: the grading label is not the survival label, so WHO grade is a legitimate prognostic
# covariate here (it is what the published "Cox grade + IDH/1p19q" reference uses). Treatments are
# NOT: "received radiation/temozolomide" is known only after follow-up has begun, and a patient who
# dies within weeks never starts therapy — an immortal-time bias that would reward the model for
# reading the outcome (on the real dev cohort they add ~0.03 to Harrell's C, all of it bias).
SURVIVAL_FEATURES: tuple[str, ...] = (*BASE_FEATURES, "who_grade", *OMICS_FEATURES)

# The model tasks (registry `task`, score tables, feature lists).
GBM_VS_LGG = "grading_gbm_vs_lgg"
WHO_GRADE = "grading_who_grade"
SURVIVAL_RISK = "survival_risk"

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    GBM_VS_LGG: GRADING_FEATURES,
    WHO_GRADE: GRADING_FEATURES,
    SURVIVAL_RISK: SURVIVAL_FEATURES,
}

# Columns derived from the grading label; a grading feature list containing one of these is a leak.
GRADING_LABEL_DERIVED_COLUMNS: frozenset[str] = frozenset(
    {
        "project_id",
        "primary_diagnosis",
        "histology_family",
        "who_grade",
        "who_grade_source",
        "who_grade_missing_reason",
        "who_cns5_class",
        "who_cns5_grade",
        "who_cns5_basis",
        "label_gbm",
        "label_who_grade",
        *TREATMENT_FEATURES,
    }
)

LABEL_COLUMNS: tuple[str, ...] = ("label_gbm", "label_who_grade", "overall_survival_days", "death_observed")

KEY_COLUMNS: tuple[str, ...] = ("release", "case_id", "submitter_id")

FEATURE_SET_REVISION = "2"


def _feature_set_version() -> str:
    # The version changes whenever a feature list changes: revision + hash of the lists.
    text = "|".join(f"{task}:{','.join(features)}" for task, features in sorted(FEATURE_SETS.items()))
    return f"fs{FEATURE_SET_REVISION}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


FEATURE_SET_VERSION: str = _feature_set_version()


# --- Molecular typing: IDH-wildtype / IDH-mutant 1p/19q-codeleted / IDH-mutant non-codeleted ---------------------
# Predicted for patients without marker calls from what else the lake holds. Its features exclude the markers it
# predicts and everything computed from them (TYPING_EXCLUDED_COLUMNS); models.molecular_typing refuses them.
MOLECULAR_TYPE = "molecular_type"

TYPING_EXCLUDED_COLUMNS: frozenset[str] = frozenset(
    {
        "idh_mutant",
        "idh_status",
        "idh_hotspot",
        "mutation_idh1",
        "mutation_idh2",
        "codeletion_1p19q",
        "who_cns5_class",
        "who_cns5_grade",
        "who_cns5_basis",
        "subtype",
        "centroid_subtype",
        "label_molecular_type",
        *PREDICTED_MARKER_FEATURES,
    }
)

# Feature blocks, each a modality a patient may or may not have. Histology is what a pathologist records without
# sequencing (family from the primary diagnosis, and the histological grade); genomic is every other marker.
TYPING_CLINICAL_FEATURES: tuple[str, ...] = ("age_at_diagnosis_years", "sex_male")
TYPING_HISTOLOGY_FAMILIES: tuple[str, ...] = ("glioblastoma", "astrocytoma", "oligodendroglioma", "oligoastrocytoma")
TYPING_HISTOLOGY_FEATURES: tuple[str, ...] = (
    *(f"histology_{family}" for family in TYPING_HISTOLOGY_FAMILIES),
    "histological_grade",
)
# Expression features of the typing model are genes chosen inside each training fold: `expression_<gene name>`.
EXPRESSION_FEATURE_PREFIX = "expression_"
TYPING_GENOMIC_FEATURES: tuple[str, ...] = (
    "atrx_mutant",
    "tp53_mutant",
    "tert_mutant",
    "chr7_gain_chr10_loss",
    "egfr_amplified",
    "cdkn2a_homozygous_deletion",
    "mgmt_promoter_methylated",
    "mgmt_stp27_probability",
    *MUTATION_FEATURES,
)
