"""The biology of the synthetic TCGA glioma cohort, in one place, drawn vectorised with numpy.

Every number here carries its source next to it. `draw_cohort` returns one numpy array per latent or
clinical variable (a `Cohort`); the document writers only format these arrays into GDC documents.

Sources (abbreviated in the comments):
  GDC         NCI GDC project pages: TCGA-GBM 617 cases, TCGA-LGG 516 cases (GDC_API_FACTS 2.1).
  Brat2015    Brat DJ et al. Comprehensive, integrative genomic analysis of diffuse lower-grade gliomas.
              NEJM 372:2481 (2015).
  Cecc2016    Ceccarelli M et al. Molecular profiling ... in diffuse glioma. Cell 164:550 (2016).
  Brennan2013 Brennan CW et al. The somatic genomic landscape of glioblastoma. Cell 155:462 (2013).
  Stupp2005   Stupp R et al. Radiotherapy plus concomitant and adjuvant temozolomide for glioblastoma.
              NEJM 352:987 (2005).
  Hegi2005    Hegi ME et al. MGMT gene silencing and benefit from temozolomide in glioblastoma.
              NEJM 352:997 (2005).
  EckelP2015  Eckel-Passow JE et al. Glioma groups based on 1p/19q, IDH, and TERT promoter mutations.
              NEJM 372:2499 (2015).
  Louis2021   Louis DN et al. The 2021 WHO Classification of Tumors of the CNS. Neuro-Oncology 23:1231.
  Stichel2018 Stichel D et al. Routine RNA sequencing ... +7/-10 in IDH-wildtype astrocytoma.
              Acta Neuropathol 136:793 (2018).
  Bady2012    Bady P et al. MGMT methylation analysis of glioblastoma on the Infinium methylation
              BeadChip (MGMT-STP27). Acta Neuropathol 124:547 (2012).
  Noushmehr2010 Noushmehr H et al. Identification of a CpG island methylator phenotype (G-CIMP)
              that defines a distinct subgroup of glioma. Cancer Cell 17:510 (2010).
  RealDev     the real TCGA dev bundle in shared/realdata (counts seen there, e.g. HM27 share in GBM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.panels import SSM_PANEL_GENES

GBM, LGG = 0, 1
PROJECT_IDS = ("TCGA-GBM", "TCGA-LGG")

# Molecular subtype codes (WHO CNS5 2021 backbone, Louis2021).
IDHWT, IDHMUT_NONCODEL, IDHMUT_CODEL = 0, 1, 2
SUBTYPE_NAMES = ("IDH-wildtype", "IDH-mutant, 1p/19q-intact", "IDH-mutant, 1p/19q-codeleted")

# --- project mix -------------------------------------------------------------------------------------
GBM_SHARE = 617 / (617 + 516)  # GDC: 617 GBM and 516 LGG cases.

# --- IDH, 1p/19q ---------------------------------------------------------------------------------------
IDH_MUTANT_SHARE = {GBM: 0.08, LGG: 0.77}  # Brat2015: ~77-80% of LGG IDH-mutant; Cecc2016: ~6-10% of GBM.
CODEL_SHARE_OF_IDHMUT = {GBM: 0.0, LGG: 0.37}  # Brat2015/Cecc2016: ~35-40% of IDH-mutant LGG are
# 1p/19q-codeleted; codeletion without IDH mutation does not define a glioma entity (Louis2021) -> never.
IDH2_SHARE = {IDHMUT_NONCODEL: 0.03, IDHMUT_CODEL: 0.12}  # Brat2015: IDH2 mutations enriched in codeleted.
IDH1_HOTSPOTS = (("R132H", 0.90), ("R132C", 0.04), ("R132G", 0.03), ("R132S", 0.03))  # Brat2015 / Hartmann
# et al. Acta Neuropathol 2009: R132H ~90% of IDH1 mutations in gliomas.
IDH2_HOTSPOTS = (("R172K", 0.75), ("R172M", 0.15), ("R172W", 0.10))  # Hartmann 2009: R172K most frequent.

# --- age at diagnosis (years), normal by project and IDH ------------------------------------------------
# Cecc2016 / Brennan2013: TCGA GBM median age ~60 (IDH-wt ~61, IDH-mut ~38); Brat2015: LGG median ~41,
# IDH-wildtype LGG older (~51).
AGE_MEAN_SD = {
    (GBM, False): (60.5, 12.0),
    (GBM, True): (38.0, 11.0),
    (LGG, False): (51.0, 14.0),
    (LGG, True): (39.0, 11.5),
}
AGE_MIN_YEARS, AGE_MAX_YEARS = 14.0, 95.0  # TCGA adults; a few nonagenarians (GDC obfuscates > 89).

# --- grade ---------------------------------------------------------------------------------------------
# GBM is grade 4 by definition; Oncoscape #45 TCGA LGG counts 218 G2 / 241 G3 (~47/53 %); IDH-wt LGG
# are more often grade 3 (Brat2015).
LGG_G3_SHARE = {IDHWT: 0.68, IDHMUT_NONCODEL: 0.52, IDHMUT_CODEL: 0.50}
LGG_GRADE_NOT_REPORTED_SHARE = 0.06  # RealDev: 46 of 777 cases with tumor_grade "Not Reported".

# --- histology of LGG (TCGA: astrocytoma 194, oligodendroglioma 191, oligoastrocytoma 130; Brat2015) -----
# columns: astrocytoma, oligodendroglioma, mixed glioma
LGG_HISTOLOGY_PROBS = {
    IDHWT: (0.62, 0.18, 0.20),
    IDHMUT_NONCODEL: (0.52, 0.18, 0.30),
    IDHMUT_CODEL: (0.06, 0.70, 0.24),
}

# --- somatic mutations: per-gene probability by (subtype, project) ---------------------------------------
# Brat2015 Fig. 2 / Cecc2016 Fig. 1 (LGG and IDH-mutant groups), Brennan2013 (IDH-wildtype GBM).
# Large passenger genes (MUC16, CSMD3, FAT4) at their TCGA glioma frequencies. TERT promoter mutations are
# rarely in GDC open ssm data (not captured by WXS, GDC_API_FACTS 3.1) -> small shares only.
_F = dict  # short alias for the frequency rows
MUTATION_FREQ: dict[str, dict[tuple[int, int], float]] = {
    "TP53": _F(
        {
            (IDHWT, GBM): 0.28,
            (IDHWT, LGG): 0.14,
            (IDHMUT_NONCODEL, GBM): 0.80,
            (IDHMUT_NONCODEL, LGG): 0.94,
            (IDHMUT_CODEL, LGG): 0.04,
        }
    ),
    "ATRX": _F(
        {
            (IDHWT, GBM): 0.06,
            (IDHWT, LGG): 0.08,
            (IDHMUT_NONCODEL, GBM): 0.70,
            (IDHMUT_NONCODEL, LGG): 0.86,
            (IDHMUT_CODEL, LGG): 0.01,
        }
    ),
    "CIC": _F(
        {
            (IDHWT, GBM): 0.01,
            (IDHWT, LGG): 0.01,
            (IDHMUT_NONCODEL, GBM): 0.01,
            (IDHMUT_NONCODEL, LGG): 0.02,
            (IDHMUT_CODEL, LGG): 0.62,
        }
    ),
    "FUBP1": _F(
        {
            (IDHWT, GBM): 0.005,
            (IDHWT, LGG): 0.01,
            (IDHMUT_NONCODEL, GBM): 0.01,
            (IDHMUT_NONCODEL, LGG): 0.01,
            (IDHMUT_CODEL, LGG): 0.29,
        }
    ),
    "NOTCH1": _F(
        {
            (IDHWT, GBM): 0.01,
            (IDHWT, LGG): 0.02,
            (IDHMUT_NONCODEL, GBM): 0.03,
            (IDHMUT_NONCODEL, LGG): 0.04,
            (IDHMUT_CODEL, LGG): 0.15,
        }
    ),
    "PIK3CA": _F(
        {
            (IDHWT, GBM): 0.10,
            (IDHWT, LGG): 0.08,
            (IDHMUT_NONCODEL, GBM): 0.06,
            (IDHMUT_NONCODEL, LGG): 0.05,
            (IDHMUT_CODEL, LGG): 0.14,
        }
    ),
    "PIK3R1": _F(
        {
            (IDHWT, GBM): 0.10,
            (IDHWT, LGG): 0.06,
            (IDHMUT_NONCODEL, GBM): 0.04,
            (IDHMUT_NONCODEL, LGG): 0.03,
            (IDHMUT_CODEL, LGG): 0.09,
        }
    ),
    "EGFR": _F(
        {
            (IDHWT, GBM): 0.26,
            (IDHWT, LGG): 0.12,
            (IDHMUT_NONCODEL, GBM): 0.02,
            (IDHMUT_NONCODEL, LGG): 0.01,
            (IDHMUT_CODEL, LGG): 0.01,
        }
    ),
    "PTEN": _F(
        {
            (IDHWT, GBM): 0.31,
            (IDHWT, LGG): 0.14,
            (IDHMUT_NONCODEL, GBM): 0.03,
            (IDHMUT_NONCODEL, LGG): 0.02,
            (IDHMUT_CODEL, LGG): 0.01,
        }
    ),
    "NF1": _F(
        {
            (IDHWT, GBM): 0.11,
            (IDHWT, LGG): 0.12,
            (IDHMUT_NONCODEL, GBM): 0.06,
            (IDHMUT_NONCODEL, LGG): 0.05,
            (IDHMUT_CODEL, LGG): 0.03,
        }
    ),
    "RB1": _F(
        {
            (IDHWT, GBM): 0.09,
            (IDHWT, LGG): 0.05,
            (IDHMUT_NONCODEL, GBM): 0.02,
            (IDHMUT_NONCODEL, LGG): 0.01,
            (IDHMUT_CODEL, LGG): 0.01,
        }
    ),
    "PDGFRA": _F(
        {
            (IDHWT, GBM): 0.04,
            (IDHWT, LGG): 0.03,
            (IDHMUT_NONCODEL, GBM): 0.03,
            (IDHMUT_NONCODEL, LGG): 0.02,
            (IDHMUT_CODEL, LGG): 0.01,
        }
    ),
    "BCOR": _F(
        {
            (IDHWT, GBM): 0.02,
            (IDHWT, LGG): 0.03,
            (IDHMUT_NONCODEL, GBM): 0.02,
            (IDHMUT_NONCODEL, LGG): 0.02,
            (IDHMUT_CODEL, LGG): 0.05,
        }
    ),
    "SMARCA4": _F(
        {
            (IDHWT, GBM): 0.02,
            (IDHWT, LGG): 0.02,
            (IDHMUT_NONCODEL, GBM): 0.05,
            (IDHMUT_NONCODEL, LGG): 0.05,
            (IDHMUT_CODEL, LGG): 0.02,
        }
    ),
    "GRIN2A": _F(
        {
            (IDHWT, GBM): 0.04,
            (IDHWT, LGG): 0.03,
            (IDHMUT_NONCODEL, GBM): 0.03,
            (IDHMUT_NONCODEL, LGG): 0.03,
            (IDHMUT_CODEL, LGG): 0.03,
        }
    ),
    "MUC16": _F(
        {
            (IDHWT, GBM): 0.12,
            (IDHWT, LGG): 0.07,
            (IDHMUT_NONCODEL, GBM): 0.08,
            (IDHMUT_NONCODEL, LGG): 0.06,
            (IDHMUT_CODEL, LGG): 0.05,
        }
    ),
    "CSMD3": _F(
        {
            (IDHWT, GBM): 0.06,
            (IDHWT, LGG): 0.04,
            (IDHMUT_NONCODEL, GBM): 0.03,
            (IDHMUT_NONCODEL, LGG): 0.03,
            (IDHMUT_CODEL, LGG): 0.02,
        }
    ),
    "FAT4": _F(
        {
            (IDHWT, GBM): 0.04,
            (IDHWT, LGG): 0.03,
            (IDHMUT_NONCODEL, GBM): 0.03,
            (IDHMUT_NONCODEL, LGG): 0.03,
            (IDHMUT_CODEL, LGG): 0.02,
        }
    ),
    "CDKN2A": _F(
        {
            (IDHWT, GBM): 0.01,
            (IDHWT, LGG): 0.01,
            (IDHMUT_NONCODEL, GBM): 0.005,
            (IDHMUT_NONCODEL, LGG): 0.002,
            (IDHMUT_CODEL, LGG): 0.002,
        }
    ),
    "TERT": _F(
        {
            (IDHWT, GBM): 0.02,
            (IDHWT, LGG): 0.01,
            (IDHMUT_NONCODEL, GBM): 0.0,
            (IDHMUT_NONCODEL, LGG): 0.0,
            (IDHMUT_CODEL, LGG): 0.01,
        }
    ),
}
# Genes decided by the IDH latent, not by MUTATION_FREQ.
IDH_GENES = ("IDH1", "IDH2")
# Which representative variant of a gene is drawn (index into ssm_catalog.VARIANTS[gene]); hotspot shares.
TP53_VARIANT_PROBS = (0.45, 0.2, 0.15, 0.1, 0.1)  # R273H, R273C, R175H, R248Q, R248W (IARC TP53 database:
# R273/R248/R175 are the glioma hotspots; representative split).

SSM_NOT_PROFILED_SHARE = {GBM: 0.027, LGG: 0.003}  # GDC: cases with ssm GBM 600/617, LGG 516/516.
CNV_NOT_PROFILED_SHARE = {GBM: 0.02, LGG: 0.005}  # RealDev: 12 of 417 GBM, 0 of 360 LGG without cnv.

# --- copy number -----------------------------------------------------------------------------------------
# Brennan2013: EGFR amplification ~43% and CDKN2A homozygous deletion ~58% of GBM; +7/-10 in ~80% of
# IDH-wt GBM (Stichel2018); Brat2015: IDH-wt LGG resemble GBM (EGFR amp ~20%, CDKN2A ~35%); CDKN2A homdel in
# IDH-mutant astrocytoma marks grade 4 (Louis2021), ~10% of IDH-mut GBM, ~5% of IDH-mut LGG.
EGFR_AMP_SHARE = {
    (IDHWT, GBM): 0.45,
    (IDHWT, LGG): 0.18,
    (IDHMUT_NONCODEL, GBM): 0.02,
    (IDHMUT_NONCODEL, LGG): 0.01,
    (IDHMUT_CODEL, LGG): 0.005,
}
CDKN2A_HOMDEL_SHARE = {
    (IDHWT, GBM): 0.58,
    (IDHWT, LGG): 0.35,
    (IDHMUT_NONCODEL, GBM): 0.12,
    (IDHMUT_NONCODEL, LGG): 0.05,
    (IDHMUT_CODEL, LGG): 0.02,
}
CHR7_GAIN_CHR10_LOSS_SHARE = {
    (IDHWT, GBM): 0.72,
    (IDHWT, LGG): 0.45,
    (IDHMUT_NONCODEL, GBM): 0.04,
    (IDHMUT_NONCODEL, LGG): 0.03,
    (IDHMUT_CODEL, LGG): 0.01,
}

# --- MGMT promoter methylation ------------------------------------------------------------------------
# Hegi2005: ~45% of GBM methylated; Noushmehr2010/Bady2012/Cecc2016: G-CIMP (IDH-mutant) tumours almost all
# MGMT-methylated; TCGA LGG ~85% methylated overall.
MGMT_METHYLATED_SHARE = {
    (IDHWT, GBM): 0.41,
    (IDHWT, LGG): 0.50,
    (IDHMUT_NONCODEL, GBM): 0.85,
    (IDHMUT_NONCODEL, LGG): 0.90,
    (IDHMUT_CODEL, LGG): 0.98,
}
METHYLATION_PROFILED_SHARE = {GBM: 0.70, LGG: 0.97}  # RealDev: 285/417 GBM, 360/360 LGG; GDC overall ~80%.
HM27_SHARE_GBM_BEFORE_2009 = 0.90  # RealDev: 192 of 285 GBM files HM27; the 450k array arrived in 2009.
RECURRENT_SAMPLE_SHARE_GBM = 0.03  # GDC: ~3% of GBM cases have a Recurrent Tumor (-02A) sample.

# Clinical MGMT / IDH tests in follow_ups[].molecular_tests (whether TCGA populates them is unknown,
# GDC_API_FACTS 2.2 [U]; kept rare). MSP and array calls disagree in ~5-10% of tumours (Bady2012).
MGMT_CLINICAL_TEST_SHARE = 0.25
MGMT_CLINICAL_TEST_DISAGREE = 0.08
IDH_CLINICAL_TEST_SHARE = 0.15  # IDH1 R132H immunohistochemistry: detects R132H only

# --- treatment ------------------------------------------------------------------------------------------
# Stupp2005: RT + TMZ standard for GBM after 2005; TCGA clinical exports (RealDev): ~70% "yes" overall.
RADIATION_SHARE = {GBM: 0.86, LGG: 0.60}
TEMOZOLOMIDE_SHARE_GBM = {"before_2005": 0.45, "from_2005": 0.80}  # Stupp2005 changed practice in 2005.
TEMOZOLOMIDE_SHARE_LGG = 0.45
TREATMENT_NOT_REPORTED_SHARE = 0.07  # RealDev: 105 of 1554 treatment rows "not reported".

# --- Karnofsky performance status -----------------------------------------------------------------------
KARNOFSKY_VALUES = np.array([40, 50, 60, 70, 80, 90, 100])
# RealDev distribution of recorded scores (GBM lower than LGG); ~35% of cases have none recorded.
KARNOFSKY_PROBS = {GBM: (0.05, 0.03, 0.17, 0.10, 0.40, 0.15, 0.10), LGG: (0.01, 0.01, 0.05, 0.05, 0.25, 0.30, 0.33)}
KARNOFSKY_MISSING_SHARE = 0.35

# --- survival -------------------------------------------------------------------------------------------
# Weibull accelerated failure time: median overall survival (months) of a reference patient per group,
# then multiplied by time ratios. Stupp2005: IDH-wt GBM median 14.6 mo with RT+TMZ; Cecc2016/Brat2015:
# IDH-wt LGG ~1.7-2 years, IDH-mut non-codeleted ~7-8 years, codeleted > 10 years (EckelP2015).
# The reference is MGMT-unmethylated (Hegi2005: 12.7 months unmethylated with TMZ), so the GBM cohort
# median lands near 14 months once methylated patients' longer survival is mixed in.
MEDIAN_OS_MONTHS = {
    (IDHWT, GBM): 12.5,
    (IDHWT, LGG): 22.0,
    (IDHMUT_NONCODEL, GBM): 31.0,
    (IDHMUT_NONCODEL, LGG): 96.0,
    (IDHMUT_CODEL, LGG): 150.0,
}
WEIBULL_SHAPE = {GBM: 1.3, LGG: 1.1}
REFERENCE_AGE_YEARS = {GBM: 60.0, LGG: 40.0}
TIME_RATIO_PER_DECADE_OLDER = 0.80  # age HR ~1.3 per decade (Stupp2005 subgroup; Brat2015 Cox models).
TIME_RATIO_MGMT_METHYLATED = {GBM: 1.60, LGG: 1.15}  # Hegi2005: 21.7 vs 12.7 months with TMZ (GBM).
TIME_RATIO_GRADE3 = 0.70  # grade 3 vs 2 within IDH-mutant LGG (Brat2015).
TIME_RATIO_LOW_KARNOFSKY = 0.75  # KPS < 70 (RTOG RPA classes).
TIME_RATIO_NO_RADIATION = 0.70  # Stupp2005 / RTOG: no RT shortens survival.
DAYS_PER_MONTH = 30.44

# Administrative censoring: diagnosis years and the follow-up cut-off of the TCGA clinical data.
DIAGNOSIS_YEAR_RANGE = {GBM: (1989, 2013), LGG: (1992, 2013)}  # TCGA tissue accrual years.
DIAGNOSIS_YEAR_MODE = {GBM: 2005, LGG: 2011}  # triangular mode: most LGG accrued 2007-2013.
FOLLOW_UP_CUTOFF_YEAR = (2013.5, 2016.0)  # last TCGA clinical updates (TCGA-CDR, Liu et al. Cell 2018).
# Site follow-up stops: TCGA LGG median follow-up ~1.8 years, ~25% deaths (Brat2015; TCGA-CDR).
LOSS_TO_FOLLOW_UP_MEDIAN_YEARS = 2.5

# --- demographics ---------------------------------------------------------------------------------------
MALE_SHARE = {GBM: 0.62, LGG: 0.55}  # TCGA GBM ~62% male; LGG ~55% male.
RACE_VALUES = (
    "white",
    "black or african american",
    "asian",
    "american indian or alaska native",
    "not reported",
    "Unknown",
    "not allowed to collect",
)
RACE_PROBS = (0.885, 0.058, 0.021, 0.002, 0.026, 0.006, 0.002)  # RealDev shares; casing kept as GDC has it.
ETHNICITY_VALUES = ("not hispanic or latino", "hispanic or latino", "not reported", "Unknown", "unknown")
ETHNICITY_PROBS = (0.845, 0.036, 0.105, 0.010, 0.004)
VITAL_STATUS_NOT_REPORTED_SHARE = 0.004  # RealDev: 3 of 777 "Not Reported".


@dataclass(frozen=True)
class Cohort:
    """One array per variable, all of length n (index = case number within the pool)."""

    n: int
    project: np.ndarray  # 0 GBM, 1 LGG
    subtype: np.ndarray  # IDHWT / IDHMUT_NONCODEL / IDHMUT_CODEL
    idh_mutant: np.ndarray  # bool
    idh_gene: np.ndarray  # "" / "IDH1" / "IDH2"
    idh_hotspot: np.ndarray  # "" / "R132H" ...
    codeletion_1p19q: np.ndarray  # bool
    who_grade: np.ndarray  # int 2/3/4
    grade_reported: np.ndarray  # bool: tumor_grade populated in profiles that populate it
    histology: np.ndarray  # "glioblastoma" / "astrocytoma" / "oligodendroglioma" / "mixed glioma"
    age_at_diagnosis_days: np.ndarray  # int
    male: np.ndarray  # bool
    race: np.ndarray  # str
    ethnicity: np.ndarray  # str
    diagnosis_year: np.ndarray  # int
    diagnosis_day_of_year: np.ndarray  # int 0..364
    mutated: dict[str, np.ndarray]  # gene -> bool (every SSM_PANEL_GENES gene)
    variant_index: dict[str, np.ndarray]  # gene -> int index of the representative variant
    ssm_profiled: np.ndarray  # bool
    cnv_profiled: np.ndarray  # bool
    egfr_amplified: np.ndarray  # bool
    cdkn2a_homozygous_deletion: np.ndarray  # bool
    chr7_gain_chr10_loss: np.ndarray  # bool
    mgmt_methylated: np.ndarray  # bool
    methylation_profiled: np.ndarray  # bool
    methylation_hm27: np.ndarray  # bool (platform)
    recurrent_sample: np.ndarray  # bool: a second methylation file of a Recurrent Tumor sample
    radiation: np.ndarray  # "yes"/"no"/"not reported"
    temozolomide: np.ndarray  # "yes"/"no"/"not reported"
    karnofsky: np.ndarray  # int score, 0 = not recorded
    true_death_days: np.ndarray  # latent time of death from diagnosis (days)
    censor_days: np.ndarray  # follow-up end (days) in the first release
    vital_status_not_reported: np.ndarray  # bool
    partial_1p_loss: np.ndarray  # bool: distal 1p36 loss without codeletion (a harmoniser must not call codel)


def _by_key(keys_a: np.ndarray, keys_b: np.ndarray, table: dict[tuple[int, int], float]) -> np.ndarray:
    """Look up table[(a, b)] element-wise (missing combinations -> 0)."""
    out = np.zeros(keys_a.shape[0], dtype=float)
    for (a, b), value in table.items():
        out[(keys_a == a) & (keys_b == b)] = value
    return out


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw from a (n, k) probability matrix."""
    cumulative = np.cumsum(probs, axis=1)
    cumulative /= cumulative[:, -1:]
    u = rng.random(probs.shape[0])[:, None]
    return (u > cumulative).sum(axis=1)


PARTIAL_1P_LOSS_SHARE = 0.05  # Cecc2016/Brat2015: partial 1p deletions occur outside codeleted tumours.
PARTIAL_1P_LOSS_GENES = 5  # the most distal 1p marker genes (1p36)


BLOCK_SIZE = 1024  # cases drawn per random stream: a larger cohort's first n cases equal a cohort of n


def draw_cohort(n: int, seed: int, methylation_share: float | None = None) -> Cohort:
    """Draw n synthetic TCGA glioma patients, deterministic for (seed, methylation_share); drawn in
    blocks of BLOCK_SIZE with their own streams, so draw_cohort(n + k)'s first n cases equal
    draw_cohort(n) (new cases of a later release extend the cohort without changing earlier ones)."""
    # always whole blocks (then truncated), so a case's values never depend on n
    blocks = [
        _draw_block(BLOCK_SIZE, seed, start // BLOCK_SIZE, methylation_share) for start in range(0, n, BLOCK_SIZE)
    ]
    fields = {}
    for name in Cohort.__dataclass_fields__:
        first = getattr(blocks[0], name)
        if name == "n":
            fields[name] = n
        elif isinstance(first, dict):
            fields[name] = {k: np.concatenate([getattr(b, name)[k] for b in blocks])[:n] for k in first}
        else:
            fields[name] = np.concatenate([getattr(b, name) for b in blocks])[:n]
    return Cohort(**fields)


def _draw_block(n: int, seed: int, block: int, methylation_share: float | None) -> Cohort:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x61, block]))
    project = np.where(rng.random(n) < GBM_SHARE, GBM, LGG).astype(np.int8)

    idh_mutant = rng.random(n) < np.where(project == GBM, IDH_MUTANT_SHARE[GBM], IDH_MUTANT_SHARE[LGG])
    codel = idh_mutant & (
        rng.random(n) < np.where(project == GBM, CODEL_SHARE_OF_IDHMUT[GBM], CODEL_SHARE_OF_IDHMUT[LGG])
    )
    subtype = np.where(~idh_mutant, IDHWT, np.where(codel, IDHMUT_CODEL, IDHMUT_NONCODEL)).astype(np.int8)

    idh2 = idh_mutant & (
        rng.random(n) < np.where(subtype == IDHMUT_CODEL, IDH2_SHARE[IDHMUT_CODEL], IDH2_SHARE[IDHMUT_NONCODEL])
    )
    idh_gene = np.where(~idh_mutant, "", np.where(idh2, "IDH2", "IDH1")).astype(object)
    idh1_choice = _categorical(rng, np.tile([p for _, p in IDH1_HOTSPOTS], (n, 1)))
    idh2_choice = _categorical(rng, np.tile([p for _, p in IDH2_HOTSPOTS], (n, 1)))
    idh1_names = np.array([h for h, _ in IDH1_HOTSPOTS], dtype=object)
    idh2_names = np.array([h for h, _ in IDH2_HOTSPOTS], dtype=object)
    idh_hotspot = np.where(~idh_mutant, "", np.where(idh2, idh2_names[idh2_choice], idh1_names[idh1_choice]))

    mean = np.zeros(n)
    sd = np.zeros(n)
    for (proj, mut), (m, s) in AGE_MEAN_SD.items():
        sel = (project == proj) & (idh_mutant == mut)
        mean[sel], sd[sel] = m, s
    age_years = np.clip(rng.normal(mean, sd), AGE_MIN_YEARS, AGE_MAX_YEARS)
    age_days = np.round(age_years * 365.25).astype(np.int64)

    g3 = rng.random(n) < _by_key(subtype, np.full(n, LGG), {(k, LGG): v for k, v in LGG_G3_SHARE.items()})
    who_grade = np.where(project == GBM, 4, np.where(g3, 3, 2)).astype(np.int8)
    grade_reported = ~((project == LGG) & (rng.random(n) < LGG_GRADE_NOT_REPORTED_SHARE))

    hist_probs = np.array([LGG_HISTOLOGY_PROBS[int(s)] for s in range(3)])[subtype]
    hist_choice = _categorical(rng, hist_probs)
    hist_names = np.array(["astrocytoma", "oligodendroglioma", "mixed glioma"], dtype=object)
    histology = np.where(project == GBM, "glioblastoma", hist_names[hist_choice]).astype(object)

    male = rng.random(n) < np.where(project == GBM, MALE_SHARE[GBM], MALE_SHARE[LGG])
    race = np.array(RACE_VALUES, dtype=object)[rng.choice(len(RACE_VALUES), n, p=RACE_PROBS)]
    ethnicity = np.array(ETHNICITY_VALUES, dtype=object)[rng.choice(len(ETHNICITY_VALUES), n, p=ETHNICITY_PROBS)]

    low = np.where(project == GBM, DIAGNOSIS_YEAR_RANGE[GBM][0], DIAGNOSIS_YEAR_RANGE[LGG][0])
    high = np.where(project == GBM, DIAGNOSIS_YEAR_RANGE[GBM][1], DIAGNOSIS_YEAR_RANGE[LGG][1]) + 1
    mode = np.where(project == GBM, DIAGNOSIS_YEAR_MODE[GBM], DIAGNOSIS_YEAR_MODE[LGG])
    diagnosis_year = np.floor(rng.triangular(low, mode, high)).astype(np.int64)
    diagnosis_day = rng.integers(0, 365, n)

    # Mutations: independent Bernoulli per gene given (subtype, project).
    mutated: dict[str, np.ndarray] = {}
    variant_index: dict[str, np.ndarray] = {}
    for gene in SSM_PANEL_GENES:
        if gene == "IDH1":
            mutated[gene] = idh_gene == "IDH1"
            variant_index[gene] = idh1_choice.astype(np.int8)
        elif gene == "IDH2":
            mutated[gene] = idh_gene == "IDH2"
            variant_index[gene] = idh2_choice.astype(np.int8)
        else:
            mutated[gene] = rng.random(n) < _by_key(subtype, project, MUTATION_FREQ[gene])
            if gene == "TP53":
                variant_index[gene] = _categorical(rng, np.tile(TP53_VARIANT_PROBS, (n, 1))).astype(np.int8)
            else:
                variant_index[gene] = rng.integers(0, 2, n).astype(np.int8)  # two representative variants

    ssm_profiled = rng.random(n) >= np.where(project == GBM, SSM_NOT_PROFILED_SHARE[GBM], SSM_NOT_PROFILED_SHARE[LGG])
    cnv_profiled = rng.random(n) >= np.where(project == GBM, CNV_NOT_PROFILED_SHARE[GBM], CNV_NOT_PROFILED_SHARE[LGG])
    egfr_amp = rng.random(n) < _by_key(subtype, project, EGFR_AMP_SHARE)
    cdkn2a = rng.random(n) < _by_key(subtype, project, CDKN2A_HOMDEL_SHARE)
    chr7_10 = rng.random(n) < _by_key(subtype, project, CHR7_GAIN_CHR10_LOSS_SHARE)
    mgmt = rng.random(n) < _by_key(subtype, project, MGMT_METHYLATED_SHARE)

    methylation_u = rng.random(n)
    if methylation_share is None:
        methylation_profiled = methylation_u < np.where(
            project == GBM, METHYLATION_PROFILED_SHARE[GBM], METHYLATION_PROFILED_SHARE[LGG]
        )
    else:
        methylation_profiled = methylation_u < methylation_share
    hm27 = (project == GBM) & (diagnosis_year < 2009) & (rng.random(n) < HM27_SHARE_GBM_BEFORE_2009)
    recurrent = (project == GBM) & methylation_profiled & (rng.random(n) < RECURRENT_SAMPLE_SHARE_GBM)

    radiation_yes = rng.random(n) < np.where(project == GBM, RADIATION_SHARE[GBM], RADIATION_SHARE[LGG])
    tmz_share = np.where(
        project == LGG,
        TEMOZOLOMIDE_SHARE_LGG,
        np.where(diagnosis_year >= 2005, TEMOZOLOMIDE_SHARE_GBM["from_2005"], TEMOZOLOMIDE_SHARE_GBM["before_2005"]),
    )
    tmz_yes = rng.random(n) < tmz_share
    radiation = np.where(radiation_yes, "yes", "no").astype(object)
    temozolomide = np.where(tmz_yes, "yes", "no").astype(object)
    radiation[rng.random(n) < TREATMENT_NOT_REPORTED_SHARE] = "not reported"
    temozolomide[rng.random(n) < TREATMENT_NOT_REPORTED_SHARE] = "not reported"

    kps_probs = np.where(
        (project == GBM)[:, None], np.array(KARNOFSKY_PROBS[GBM])[None, :], np.array(KARNOFSKY_PROBS[LGG])[None, :]
    )
    karnofsky = KARNOFSKY_VALUES[_categorical(rng, kps_probs)]
    karnofsky = np.where(rng.random(n) < KARNOFSKY_MISSING_SHARE, 0, karnofsky)

    # Survival: Weibull AFT around the group median.
    median_months = _by_key(subtype, project, MEDIAN_OS_MONTHS)
    ref_age = np.where(project == GBM, REFERENCE_AGE_YEARS[GBM], REFERENCE_AGE_YEARS[LGG])
    ratio = TIME_RATIO_PER_DECADE_OLDER ** ((age_years - ref_age) / 10.0)
    ratio *= np.where(
        mgmt, np.where(project == GBM, TIME_RATIO_MGMT_METHYLATED[GBM], TIME_RATIO_MGMT_METHYLATED[LGG]), 1.0
    )
    ratio *= np.where((project == LGG) & (who_grade == 3), TIME_RATIO_GRADE3, 1.0)
    ratio *= np.where((karnofsky > 0) & (karnofsky < 70), TIME_RATIO_LOW_KARNOFSKY, 1.0)
    ratio *= np.where(radiation == "no", TIME_RATIO_NO_RADIATION, 1.0)
    shape = np.where(project == GBM, WEIBULL_SHAPE[GBM], WEIBULL_SHAPE[LGG])
    median_days = median_months * DAYS_PER_MONTH * ratio
    # Weibull with median m: T = m * (-ln U / ln 2) ** (1 / k)
    true_death = median_days * (-np.log(rng.random(n)) / np.log(2.0)) ** (1.0 / shape)
    true_death_days = np.maximum(np.round(true_death), 1).astype(np.int64)

    cutoff_year = rng.uniform(*FOLLOW_UP_CUTOFF_YEAR, n)
    admin_censor = (cutoff_year - (diagnosis_year + diagnosis_day / 365.0)) * 365.25
    loss_to_follow_up = rng.exponential(LOSS_TO_FOLLOW_UP_MEDIAN_YEARS * 365.25 / np.log(2.0), n)
    censor_days = np.maximum(np.round(np.minimum(admin_censor, loss_to_follow_up)), 1).astype(np.int64)

    return Cohort(
        n=n,
        project=project,
        subtype=subtype,
        idh_mutant=idh_mutant,
        idh_gene=idh_gene,
        idh_hotspot=idh_hotspot,
        codeletion_1p19q=codel,
        who_grade=who_grade,
        grade_reported=grade_reported,
        histology=histology,
        age_at_diagnosis_days=age_days,
        male=male,
        race=race,
        ethnicity=ethnicity,
        diagnosis_year=diagnosis_year,
        diagnosis_day_of_year=diagnosis_day,
        mutated=mutated,
        variant_index=variant_index,
        ssm_profiled=ssm_profiled,
        cnv_profiled=cnv_profiled,
        egfr_amplified=egfr_amp,
        cdkn2a_homozygous_deletion=cdkn2a,
        chr7_gain_chr10_loss=chr7_10,
        mgmt_methylated=mgmt,
        methylation_profiled=methylation_profiled,
        methylation_hm27=hm27,
        recurrent_sample=recurrent,
        radiation=radiation,
        temozolomide=temozolomide,
        karnofsky=karnofsky,
        true_death_days=true_death_days,
        censor_days=censor_days,
        vital_status_not_reported=rng.random(n) < VITAL_STATUS_NOT_REPORTED_SHARE,
        partial_1p_loss=~codel & (rng.random(n) < PARTIAL_1P_LOSS_SHARE),
    )


# --- MGMT-STP27 (Bady2012) -------------------------------------------------------------------------------
STP27_INTERCEPT, STP27_COEF_M1, STP27_COEF_M2 = 4.3215, 0.5271, 0.9265
STP27_CUTOFF = 0.358
STP27_LOGIT_CUTOFF = float(np.log(STP27_CUTOFF / (1 - STP27_CUTOFF)))
# M-value distributions of the two promoter probes (cg12434587 = M1, cg12981137 = M2) by status, chosen
# so the bulk of each class lies well inside its side of the STP27 boundary (Bady2012 Fig. 2 ranges).
MGMT_PROBE_M_MEAN_SD = {False: ((-4.0, 0.9), (-4.3, 0.9)), True: ((0.2, 1.0), (-0.4, 1.0))}
STP27_MIN_MARGIN_LOGIT = 0.15  # no generated file sits closer than this to the cut-off


def stp27_probability(beta_m1: np.ndarray, beta_m2: np.ndarray) -> np.ndarray:
    """MGMT-STP27 probability of promoter methylation from the two probe betas (Bady2012)."""
    m1 = np.log2(beta_m1 / (1 - beta_m1))
    m2 = np.log2(beta_m2 / (1 - beta_m2))
    logit = STP27_INTERCEPT + STP27_COEF_M1 * m1 + STP27_COEF_M2 * m2
    return 1.0 / (1.0 + np.exp(-logit))


def draw_mgmt_probe_betas(rng: np.random.Generator, methylated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Betas of cg12434587 and cg12981137 whose STP27 call equals `methylated` (see mgmt_probe_betas)."""
    n = methylated.shape[0]
    return mgmt_probe_betas(rng.standard_normal(n), rng.standard_normal(n), methylated)


def mgmt_probe_betas(z1: np.ndarray, z2: np.ndarray, methylated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Betas of cg12434587 (M1) and cg12981137 (M2) from standard normals, so that MGMT-STP27 calls
    `methylated` with a safety margin.

    M-values are drawn per class; the few draws on the wrong side of the STP27 boundary get M2 moved
    just across it, so every file's call is the intended truth even after 6-decimal rounding.
    """
    methylated = methylated.astype(bool)
    (mu1_u, sd1_u), (mu2_u, sd2_u) = MGMT_PROBE_M_MEAN_SD[False]
    (mu1_m, sd1_m), (mu2_m, sd2_m) = MGMT_PROBE_M_MEAN_SD[True]
    m1 = np.where(methylated, mu1_m + sd1_m * z1, mu1_u + sd1_u * z1)
    m2 = np.where(methylated, mu2_m + sd2_m * z2, mu2_u + sd2_u * z2)
    # Keep M1 on its class's side so moving M2 alone can always reach the target without clipping.
    m1 = np.where(methylated, np.clip(m1, -5.0, 7.5), np.clip(m1, -7.5, 1.0))
    logit = STP27_INTERCEPT + STP27_COEF_M1 * m1 + STP27_COEF_M2 * m2
    target = np.where(
        methylated, STP27_LOGIT_CUTOFF + STP27_MIN_MARGIN_LOGIT, STP27_LOGIT_CUTOFF - STP27_MIN_MARGIN_LOGIT
    )
    wrong = np.where(methylated, logit < target, logit > target)
    fixed_m2 = (target - STP27_INTERCEPT - STP27_COEF_M1 * m1) / STP27_COEF_M2
    m2 = np.clip(np.where(wrong, fixed_m2, m2), -7.5, 7.5)
    beta1 = 2.0**m1 / (1 + 2.0**m1)
    beta2 = 2.0**m2 / (1 + 2.0**m2)
    return beta1, beta2
