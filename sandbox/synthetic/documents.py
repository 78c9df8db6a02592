"""Format the drawn cohort into GDC documents (shapes copied from the real dev bundle, per profile).

Case documents are Python dicts (json.dumps'ed by the writer); the very numerous occurrence documents
are assembled from pre-serialised JSON fragments, because their ssm/cnv parts are shared by every case
that carries the same variant or gene call.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

import numpy as np

from contracts.panels import CNV_MARKER_GENES, SSM_PANEL_GENES, cnv_genes_on
from sandbox.synthetic import cohort_model as cm
from sandbox.synthetic.keyed import keyed_uniform, keyed_uuids
from sandbox.synthetic.profiles import ReleaseProfile
from sandbox.synthetic.ssm_catalog import VARIANTS, Variant

PROJECT_NAMES = {"TCGA-GBM": "Glioblastoma Multiforme", "TCGA-LGG": "Brain Lower Grade Glioma"}
# Real TCGA tissue source sites of the two projects (first two barcode fields).
TSS_CODES = {
    cm.GBM: ("02", "06", "08", "12", "14", "15", "16", "19", "26", "27", "28", "32", "41", "76", "81", "87"),
    cm.LGG: (
        "CS",
        "DB",
        "DH",
        "DU",
        "E1",
        "EZ",
        "FG",
        "FN",
        "HT",
        "HW",
        "KT",
        "P5",
        "QH",
        "R8",
        "S9",
        "TM",
        "TQ",
        "VM",
        "VW",
        "WY",
    ),
}
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Bijective scramble of the case number into the 36**4 participant codes (multiplier coprime to 36).
_CODE_SPACE, _CODE_MULT, _CODE_ADD = 36**4, 1_000_003, 46_656
MAX_POOL_CASES = _CODE_SPACE

# Stable namespace for entity ids that GDC shares across cases (an ssm, a gene-level cnv).
GDC_ENTITY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/glioma-lakehouse/synthetic-gdc")


def fast_uuid5(namespace: uuid.UUID, name: str) -> str:
    """str(uuid.uuid5(namespace, name)) without building UUID objects (millions are needed)."""
    h = hashlib.sha1(namespace.bytes + name.encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[0:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def barcode(project: int, pool_index: int) -> str:
    tss = TSS_CODES[project][pool_index % len(TSS_CODES[project])]
    code = (pool_index * _CODE_MULT + _CODE_ADD) % _CODE_SPACE
    chars = "".join(_BASE36[(code // 36**k) % 36] for k in (3, 2, 1, 0))
    return f"TCGA-{tss}-{chars}"


def primary_diagnosis(histology: str, grade: int) -> tuple[str, str]:
    """(primary_diagnosis, ICD-O morphology) as TCGA records them."""
    if histology == "glioblastoma":
        return "Glioblastoma", "9440/3"
    if histology == "astrocytoma":
        return ("Astrocytoma, anaplastic", "9401/3") if grade == 3 else ("Astrocytoma, NOS", "9400/3")
    if histology == "oligodendroglioma":
        return ("Oligodendroglioma, anaplastic", "9451/3") if grade == 3 else ("Oligodendroglioma, NOS", "9450/3")
    return "Mixed glioma", "9382/3"


_SITES = (
    ("C71.9", "Brain, NOS", 0.55),
    ("C71.0", "Cerebrum", 0.38),
    ("C71.1", "Frontal lobe", 0.03),
    ("C71.2", "Temporal lobe", 0.03),
    ("C71.4", "Occipital lobe", 0.01),
)  # RealDev shares


@dataclass(frozen=True)
class CaseView:
    """Everything about one case that its document needs, for one release."""

    index: int
    case_id: str
    submitter_id: str
    project_id: str
    censor_days: int  # follow-up end in this release
    updated_datetime: str


def observed_survival(cohort: cm.Cohort, index: int, censor_days: int) -> tuple[bool, int]:
    """(death observed, overall survival days) given the follow-up end of a release."""
    death = int(cohort.true_death_days[index])
    return (True, death) if death <= censor_days else (False, censor_days)


CASE_UNIFORM_STREAMS: tuple[str, ...] = (
    "cls",
    "dtd-null",
    "dx2",
    "fuorder",
    "idh-test",
    "mgmt-dis",
    "mgmt-test",
    "nfu",
    "nodx",
    "nofu",
    "order",
    "pm",
    "prog",
    "pt",
    "rec",
    "sex",
    "site",
    "yod-null",
)
CHILD_ID_STREAMS: tuple[str, ...] = ("dem", "dx", "dx2", "tx", "tx2", "fu0", "fu1", "fu2")


@dataclass(frozen=True)
class CaseRandom:
    """Per-case cosmetic draws and child-entity ids for the members of a release, keyed by case index so
    a case keeps them from release to release."""

    uniforms: dict[str, list[float]]
    ids: dict[str, list[str]]


def case_random(seed: int, members: np.ndarray) -> CaseRandom:
    return CaseRandom(
        uniforms={s: keyed_uniform(seed, f"case-u:{s}", members).tolist() for s in CASE_UNIFORM_STREAMS},
        ids={s: keyed_uuids(seed, f"case-id:{s}", members) for s in CHILD_ID_STREAMS},
    )


def case_document(
    cohort: cm.Cohort, view: CaseView, profile: ReleaseProfile, rand: CaseRandom, pos: int, force_children: bool = False
) -> dict:
    """The complete /cases document of one case (`pos` = its row in `rand`). `force_children` keeps
    diagnoses and follow_ups present (cases that will receive a recorded bad value need the field)."""
    i = view.index
    u = {name: values[pos] for name, values in rand.uniforms.items()}
    ids = {name: values[pos] for name, values in rand.ids.items()}
    bc = view.submitter_id
    dead, os_days = observed_survival(cohort, i, view.censor_days)
    not_reported = bool(cohort.vital_status_not_reported[i])
    age_days_true = int(cohort.age_at_diagnosis_days[i])
    obfuscated = int(age_days_true // 365.25) > 89
    # GDC caps ages above 89 years (HIPAA): 32872 days, age_at_index 89.
    age_days = min(age_days_true, 32872)
    age_years = min(int(age_days_true // 365.25), 89)
    diagnosis_year = int(cohort.diagnosis_year[i])
    year_of_birth = diagnosis_year - int(age_days_true // 365.25)

    doc: dict = {
        "id": view.case_id,
        "case_id": view.case_id,
        "submitter_id": bc,
        "project": {"project_id": view.project_id, "name": PROJECT_NAMES[view.project_id], "program": {"name": "TCGA"}},
        "disease_type": "Gliomas",
        "primary_site": "Brain",
        "state": "released",
        "updated_datetime": view.updated_datetime,
    }
    variation = [kind for kind, flag in (("ssm", cohort.ssm_profiled[i]), ("cnv", cohort.cnv_profiled[i])) if flag]
    if variation:  # neither profiled -> the key is absent, as in the real bundle
        doc["available_variation_data"] = variation

    vital = "Not Reported" if not_reported else ("Dead" if dead else "Alive")
    survival_fields: dict = {"vital_status": vital}
    if dead and not not_reported:
        survival_fields["days_to_death"] = os_days
    elif u["dtd-null"] < 0.5:
        survival_fields["days_to_death"] = None  # explicit null vs absent key: both occur
    survival_fields["days_to_birth"] = -age_days

    demographic: dict = {"submitter_id": f"{bc}_demographic", "demographic_id": ids["dem"]}
    sex = "male" if cohort.male[i] else "female"
    if u["sex"] < 0.003:
        sex = "not reported"
    if "gender" in profile.sex_fields:
        demographic["gender"] = sex
    if "sex_at_birth" in profile.sex_fields:
        demographic["sex_at_birth"] = "unknown" if sex == "not reported" else sex
    demographic["race"] = str(cohort.race[i])
    demographic["ethnicity"] = str(cohort.ethnicity[i])
    if profile.vital_status_on == "demographic":
        demographic.update(survival_fields)
    if profile.age_at_index:
        demographic["age_at_index"] = age_years
    demographic["year_of_birth"] = year_of_birth
    if dead and not not_reported:
        demographic["year_of_death"] = diagnosis_year + int((int(cohort.diagnosis_day_of_year[i]) + os_days) // 365.25)
    elif u["yod-null"] < 0.5:
        demographic["year_of_death"] = None
    if obfuscated:
        demographic["age_is_obfuscated"] = True
    doc["demographic"] = demographic

    # last follow-up: a float on diagnoses (839.0), an int on follow_ups
    last_follow_up = os_days
    grade = int(cohort.who_grade[i])
    if profile.tumor_grade_populated and bool(cohort.grade_reported[i]):
        tumor_grade = f"G{grade}"
    else:
        tumor_grade = "Not Reported"
    diagnosis_name, morphology = primary_diagnosis(str(cohort.histology[i]), grade)
    site_u = u["site"]
    cumulative = 0.0
    icd, site = _SITES[0][0], _SITES[0][1]
    for code, name, share in _SITES:
        cumulative += share
        if site_u < cumulative:
            icd, site = code, name
            break
    diagnosis: dict = {
        "submitter_id": f"{bc}_diagnosis",
        "diagnosis_id": ids["dx"],
        "age_at_diagnosis": age_days,
        "primary_diagnosis": diagnosis_name,
        "morphology": morphology,
        "icd_10_code": icd,
    }
    if profile.days_to_last_follow_up_on_diagnoses:
        diagnosis["days_to_last_follow_up"] = float(last_follow_up)
    if profile.vital_status_on == "diagnoses":
        diagnosis.update(survival_fields)
    diagnosis.update(
        {
            "tumor_grade": tumor_grade,
            "classification_of_tumor": "primary" if u["cls"] < 0.5 else "not reported",
            "site_of_resection_or_biopsy": site,
            "tissue_or_organ_of_origin": site,
            # lowercase yes/no here, capitalised Yes/No on prior_treatment: GDC's inconsistency, kept.
            "prior_malignancy": "no" if u["pm"] < 0.48 else ("not reported" if u["pm"] < 0.985 else "yes"),
            "prior_treatment": "Yes" if u["pt"] < 0.02 else "No",
            "progression_or_recurrence": "yes"
            if dead and u["prog"] < 0.6
            else ("no" if u["prog"] < 0.8 else "not reported"),
            "year_of_diagnosis": diagnosis_year,
            "diagnosis_is_primary_disease": True,
        }
    )
    radiation, tmz = str(cohort.radiation[i]), str(cohort.temozolomide[i])
    pharma = {
        "submitter_id": f"{bc}_treatment2",
        "treatment_id": ids["tx2"],
        "treatment_type": "Pharmaceutical Therapy, NOS",
        "treatment_or_therapy": tmz,
    }
    if tmz == "yes":
        pharma["therapeutic_agents"] = "Temozolomide"
    diagnosis["treatments"] = [
        {
            "submitter_id": f"{bc}_treatment",
            "treatment_id": ids["tx"],
            "treatment_type": "Radiation Therapy, NOS",
            "treatment_or_therapy": radiation,
        },
        pharma,
    ]
    diagnoses = [diagnosis]
    if u["dx2"] < profile.extra_diagnosis_share:
        # A recurrence diagnosis (post-DR42 style `_diagnosis2`); sometimes listed first, the trap that made
        # clients pick the wrong diagnosis (TCGAbiolinks #644).
        recurrence_days = max(1, int(os_days * (0.3 + 0.5 * u["rec"])))
        second = {
            "submitter_id": f"{bc}_diagnosis2",
            "diagnosis_id": ids["dx2"],
            "age_at_diagnosis": age_days + recurrence_days,
            "primary_diagnosis": diagnosis_name,
            "morphology": morphology,
            "icd_10_code": icd,
            "tumor_grade": tumor_grade,
            "classification_of_tumor": "recurrence",
            "diagnosis_is_primary_disease": False,
            "days_to_recurrence": recurrence_days,
        }
        diagnoses = [second, diagnosis] if u["order"] < 0.5 else [diagnosis, second]
    if force_children or u["nodx"] >= 0.005:  # ~0.5% without diagnoses (absent key, not [])
        doc["diagnoses"] = diagnoses

    if force_children or u["nofu"] >= 0.05:  # ~5% without follow_ups
        n_follow_ups = 1 + int(u["nfu"] * 3)
        follow_ups = []
        for k in range(n_follow_ups):
            # earlier visits at fractions of the last follow-up; the last one is the follow-up end
            days = last_follow_up if k == n_follow_ups - 1 else int(last_follow_up * (k + 1) / n_follow_ups)
            suffix = "" if k == 0 else str(k + 1)
            follow_up: dict = {
                "submitter_id": f"{bc}_follow_up{suffix}",
                "follow_up_id": ids[f"fu{k}"],
                "days_to_follow_up": days,
            }
            if k == 0:
                if cohort.karnofsky[i] > 0:
                    follow_up["karnofsky_performance_status"] = str(int(cohort.karnofsky[i]))
                follow_up["progression_or_recurrence"] = (
                    "Yes" if diagnosis["progression_or_recurrence"] == "yes" else "No"
                )
                tests = _molecular_tests(cohort, i, u)
                if tests:
                    follow_up["molecular_tests"] = tests
            follow_ups.append(follow_up)
        # list the visits in the order GDC happened to index them (not always chronological)
        if n_follow_ups > 1 and u["fuorder"] < 0.3:
            follow_ups.reverse()
        doc["follow_ups"] = follow_ups
    return doc


def _molecular_tests(cohort: cm.Cohort, i: int, u: dict[str, float]) -> list[dict]:
    tests = []
    if u["mgmt-test"] < cm.MGMT_CLINICAL_TEST_SHARE:
        methylated = bool(cohort.mgmt_methylated[i]) != (u["mgmt-dis"] < cm.MGMT_CLINICAL_TEST_DISAGREE)
        tests.append(
            {
                "gene_symbol": "MGMT",
                "variant_type": "Methylation",
                "test_result": "Positive" if methylated else "Negative",
                "molecular_analysis_method": "Methylation Specific PCR",
            }
        )
    if u["idh-test"] < cm.IDH_CLINICAL_TEST_SHARE:
        tests.append(
            {
                "gene_symbol": "IDH1",
                "variant_type": "Mutation, NOS",
                "test_result": "Positive"
                if cohort.idh_hotspot[i] == "R132H" and cohort.idh_gene[i] == "IDH1"
                else "Negative",  # the R132H antibody misses other IDH1/IDH2 variants
                "molecular_analysis_method": "IHC",
            }
        )
    return tests


# --- occurrence documents ------------------------------------------------------------------------------
def case_ref_json(case_id: str, submitter_id: str, project_id: str) -> str:
    return json.dumps({"case_id": case_id, "submitter_id": submitter_id, "project": {"project_id": project_id}})


def _transcript(variant: Variant, canonical: bool) -> dict:
    non_coding = variant.other_is_non_coding and not canonical
    return {
        "transcript": {
            "transcript_id": variant.canonical_transcript if canonical else variant.other_transcript,
            "is_canonical": canonical,
            "aa_change": None if non_coding else variant.aa_change,
            "consequence_type": "non_coding_transcript_exon_variant" if non_coding else variant.consequence_type,
            "annotation": {"vep_impact": "MODIFIER" if non_coding else variant.vep_impact},
            "gene": {"symbol": variant.gene, "gene_id": variant.gene_id},
        }
    }


def ssm_json(variant: Variant) -> str:
    """The `ssm` object of an occurrence (shared by all cases with this variant)."""
    return json.dumps(
        {
            "ssm_id": fast_uuid5(GDC_ENTITY_NAMESPACE, f"ssm:{variant.key}"),
            "chromosome": variant.chromosome,
            "start_position": variant.start_position,
            "end_position": variant.end_position,
            "reference_allele": variant.reference_allele,
            "tumor_allele": variant.tumor_allele,
            "genomic_dna_change": variant.genomic_dna_change,
            "mutation_type": "Simple Somatic Mutation",
            "mutation_subtype": variant.mutation_subtype,
            "ncbi_build": "GRCh38",
            "consequence": [_transcript(variant, True), _transcript(variant, False)],
        }
    )


SSM_JSON: dict[str, tuple[str, ...]] = {gene: tuple(ssm_json(v) for v in VARIANTS[gene]) for gene in SSM_PANEL_GENES}
_CNV_GENES = {g.symbol: g for g in CNV_MARKER_GENES}
_CNV_CALLS = {
    "Gain": ("Gain", "Gain"),
    "Amplification": ("Gain", "Amplification"),
    "Heterozygous Deletion": ("Loss", "Heterozygous Deletion"),
    "Homozygous Deletion": ("Loss", "Homozygous Deletion"),
}


def cnv_json(symbol: str, category: str) -> str:
    gene = _CNV_GENES[symbol]
    change, five = _CNV_CALLS[category]
    return json.dumps(
        {
            "cnv_id": fast_uuid5(GDC_ENTITY_NAMESPACE, f"cnv:{symbol}:{five}"),
            "chromosome": gene.chromosome,
            "start_position": gene.start_position,
            "end_position": gene.end_position,
            "cnv_change": change,
            "cnv_change_5_category": five,
            "gene_level_cn": True,
            "ncbi_build": "GRCh38",
            "consequence": [{"gene": {"symbol": symbol, "gene_id": gene.gene_id, "biotype": "protein_coding"}}],
        }
    )


CNV_JSON: dict[tuple[str, str], str] = {
    (g.symbol, c): cnv_json(g.symbol, c) for g in CNV_MARKER_GENES for c in _CNV_CALLS
}
GENES_1P = cnv_genes_on("1", "p")
GENES_19Q = cnv_genes_on("19", "q")
GENES_CHR7 = cnv_genes_on("7")
GENES_CHR10 = cnv_genes_on("10")
# 1p genes ordered by position; the distal (1p36) ones are lost in partial 1p deletions.
GENES_1P_DISTAL = tuple(
    g.symbol for g in sorted((g for g in CNV_MARKER_GENES if g.symbol in GENES_1P), key=lambda g: g.start_position)
)[: cm.PARTIAL_1P_LOSS_GENES]


def mutated_matrix(cohort: cm.Cohort) -> np.ndarray:
    """(n, genes) bool matrix in SSM_PANEL_GENES order."""
    return np.stack([cohort.mutated[g] for g in SSM_PANEL_GENES], axis=1)


# Call codes of the cnv call matrix (0 = unchanged, no occurrence).
CNV_CATEGORY_CODES: tuple[str | None, ...] = (
    None,
    "Gain",
    "Amplification",
    "Heterozygous Deletion",
    "Homozygous Deletion",
)
CNV_JSON_BY_CODE: list[list[str | None]] = [
    [None] + [CNV_JSON[(g.symbol, c)] for c in CNV_CATEGORY_CODES[1:]] for g in CNV_MARKER_GENES
]
_COL = {g.symbol: k for k, g in enumerate(CNV_MARKER_GENES)}


def cnv_call_matrix(cohort: cm.Cohort, members: np.ndarray) -> np.ndarray:
    """(members, CNV_MARKER_GENES) int8 matrix of call codes (see CNV_CATEGORY_CODES). GDC semantics: only
    changed genes get a code. Codeletion -> Heterozygous Deletion on every 1p and 19q gene (else a partial
    distal 1p loss for some); +7/-10 -> Gain on chr7, Heterozygous Deletion on chr10; later rules win:
    EGFR Amplification over the chr7 Gain, CDKN2A Homozygous Deletion."""
    calls = np.zeros((members.shape[0], len(CNV_MARKER_GENES)), dtype=np.int8)
    het, gain = CNV_CATEGORY_CODES.index("Heterozygous Deletion"), CNV_CATEGORY_CODES.index("Gain")
    codel = cohort.codeletion_1p19q[members]
    partial = cohort.partial_1p_loss[members] & ~codel
    for gene in GENES_1P + GENES_19Q:
        calls[codel, _COL[gene]] = het
    for gene in GENES_1P_DISTAL:
        calls[partial, _COL[gene]] = het
    chr7_10 = cohort.chr7_gain_chr10_loss[members]
    for gene in GENES_CHR7:
        calls[chr7_10, _COL[gene]] = gain
    for gene in GENES_CHR10:
        calls[chr7_10, _COL[gene]] = het
    calls[cohort.egfr_amplified[members], _COL["EGFR"]] = CNV_CATEGORY_CODES.index("Amplification")
    calls[cohort.cdkn2a_homozygous_deletion[members], _COL["CDKN2A"]] = CNV_CATEGORY_CODES.index("Homozygous Deletion")
    return calls
