"""A synthetic cohort with a known signal, in the contract columns of harmonised/patients and
harmonised/molecular_markers (numpy, seeded).

Signal: IDH mutation and 1p/19q codeletion make a tumour lower grade and lower the hazard; age raises
both; MGMT methylation lowers the hazard. Everything else is noise. Some values are missing.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from contracts.panels import SSM_PANEL_GENES

RELEASE = "45.0"


def synthetic_cohort(n_cases: int = 400, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    case_ids = [f"case-{i:05d}" for i in range(n_cases)]
    idh_mutant = rng.random(n_cases) < 0.45
    codeleted = idh_mutant & (rng.random(n_cases) < 0.4)
    age = np.where(idh_mutant, rng.normal(40, 10, n_cases), rng.normal(60, 10, n_cases)).clip(18, 90)
    mgmt_probability = np.clip(np.where(idh_mutant, 0.8, 0.4) + rng.normal(0, 0.2, n_cases), 0.01, 0.99)
    # Grade: IDH-wildtype is mostly grade 4; codeleted tumours grade 2/3; IDH-mutant astrocytoma 2/3/4.
    grade_logit = 2.5 * (~idh_mutant) - 1.0 * codeleted + 0.03 * (age - 50) + rng.normal(0, 0.6, n_cases)
    who_grade = np.where(grade_logit > 1.2, 4, np.where(grade_logit > -0.1, 3, 2))
    project = np.where(who_grade == 4, "TCGA-GBM", "TCGA-LGG")
    log_hazard = 1.2 * (~idh_mutant) - 0.8 * codeleted + 0.04 * (age - 50) - 0.5 * (mgmt_probability > 0.5)
    event_days = rng.exponential(900 * np.exp(-log_hazard))
    censor_days = rng.uniform(100, 4000, n_cases)
    overall_survival_days = np.minimum(event_days, censor_days).round() + 1
    death = event_days <= censor_days

    def with_missing(values: np.ndarray, share: float) -> list:
        missing = rng.random(n_cases) < share
        return [None if m else v for v, m in zip(values.tolist(), missing, strict=True)]

    status = lambda flags: np.where(flags, "mutant", "wildtype")  # noqa: E731
    patients = pl.DataFrame(
        {
            "release": RELEASE,
            "case_id": case_ids,
            "submitter_id": [f"TCGA-XX-{i:04d}" for i in range(n_cases)],
            "project_id": project,
            "sex": rng.choice(["female", "male"], n_cases),
            "race": "white",
            "ethnicity": None,
            "age_at_diagnosis_years": age,
            "primary_diagnosis": np.where(who_grade == 4, "Glioblastoma", "Astrocytoma, NOS"),
            "histology_family": np.where(who_grade == 4, "glioblastoma", "astrocytoma"),
            "who_grade": who_grade.astype(np.int8),
            "who_grade_source": "tumor_grade",
            "who_grade_missing_reason": None,
            "karnofsky_score": pl.Series(with_missing(rng.choice([60, 70, 80, 90, 100], n_cases), 0.3), dtype=pl.Int16),
            "received_radiation": rng.random(n_cases) < 0.8,
            "received_temozolomide": rng.random(n_cases) < 0.6,
            "received_chemotherapy": rng.random(n_cases) < 0.6,
            "vital_status": np.where(death, "Dead", "Alive"),
            "overall_survival_days": overall_survival_days,
            "death_observed": death,
            "survival_rule": "days_to_death",
        },
        schema_overrides={"ethnicity": pl.String, "who_grade_missing_reason": pl.String},
    )
    mutations = {
        f"mutation_{gene.lower()}": with_missing(status(rng.random(n_cases) < 0.1), 0.1) for gene in SSM_PANEL_GENES
    }
    mutations["mutation_idh1"] = with_missing(status(idh_mutant), 0.0)
    markers = pl.DataFrame(
        {
            "release": RELEASE,
            "case_id": case_ids,
            "submitter_id": [f"TCGA-XX-{i:04d}" for i in range(n_cases)],
            "project_id": project,
            "ssm_profiled": True,
            "cnv_profiled": True,
            **mutations,
            "idh_status": with_missing(status(idh_mutant), 0.05),
            "idh_hotspot": ["IDH1 R132H" if mutant else None for mutant in idh_mutant],
            "atrx_status": with_missing(status(idh_mutant & ~codeleted & (rng.random(n_cases) < 0.7)), 0.1),
            "tp53_status": with_missing(status(rng.random(n_cases) < 0.3), 0.1),
            "tert_status": with_missing(status(rng.random(n_cases) < 0.3), 0.6),
            "codeletion_1p19q": with_missing(codeleted, 0.05),
            "chr7_gain_chr10_loss": with_missing(~idh_mutant & (rng.random(n_cases) < 0.6), 0.05),
            "egfr_amplified": with_missing(~idh_mutant & (rng.random(n_cases) < 0.4), 0.05),
            "cdkn2a_homozygous_deletion": with_missing(rng.random(n_cases) < 0.2, 0.05),
            "mgmt_stp27_probability": with_missing(mgmt_probability, 0.15),
            "mgmt_promoter_methylated": with_missing(mgmt_probability > 0.358, 0.15),
            "mgmt_source": "methylation_stp27",
            "mgmt_sources_disagree": False,
        },
        schema_overrides={
            "codeletion_1p19q": pl.Boolean,
            "chr7_gain_chr10_loss": pl.Boolean,
            "egfr_amplified": pl.Boolean,
            "cdkn2a_homozygous_deletion": pl.Boolean,
            "mgmt_promoter_methylated": pl.Boolean,
            "idh_hotspot": pl.String,
        },
    )
    return patients, markers
