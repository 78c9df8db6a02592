"""The vocabulary maps: one per GDC field family, and the one definition of a sentinel.

GDC spells the same thing differently across properties and releases (`not reported` vs `Not Reported`,
`yes` vs `Yes`, `dead` in the 2017 data model vs `Dead` now — GDC_API_FACTS 2.2, 7.5). Every map therefore
looks values up by a *normalised* spelling (trimmed, lower case, inner whitespace collapsed); the raw
spelling itself stays untouched in the raw layer.

A raw value is one of:
  * missing   - absent key or explicit null (the raw layer keeps which one it was);
  * sentinel  - a "we don't know" string (`SENTINELS`), mapped to null in every family;
  * mapped    - a spelling the family knows;
  * unmapped  - anything else. That is an error (the case goes to quarantine naming the field and
                value), never a silent null: a new GDC spelling must be added here on purpose.

Each family is usable both per value (`Vocabulary.lookup`) and vectorised over a polars column
(`Vocabulary.expr`, `Vocabulary.unmapped_expr`); both read the same dict, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import polars as pl

# Every "no information" spelling seen in GDC documents, portal exports ('-- is the portal's empty cell)
# and the published TCGA tables ([Not Available]-style), in normalised form.
SENTINELS: frozenset[str] = frozenset(
    {
        "",
        "not reported",
        "unknown",
        "not allowed to collect",
        "not applicable",
        "unspecified",
        "not available",
        "'--",
        "--",
        "na",
        "n/a",
        "[not available]",
        "[not applicable]",
        "[unknown]",
        "[not evaluated]",
        "[not reported]",
        "[discrepancy]",
    }
)

_WHITESPACE = re.compile(r"\s+")


def normalise_spelling(raw: str) -> str:
    """The lookup key of a raw GDC string: trimmed, lower case, inner whitespace collapsed."""
    return _WHITESPACE.sub(" ", raw.strip().lower())


def normalised_expr(column: pl.Expr) -> pl.Expr:
    """`normalise_spelling` as a polars expression (same rules)."""
    return column.str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def is_sentinel(raw: Any) -> bool:
    return isinstance(raw, str) and normalise_spelling(raw) in SENTINELS


def sentinel_expr(column: pl.Expr) -> pl.Expr:
    """True where the (string) column holds a sentinel; null stays null."""
    return normalised_expr(column).is_in(list(SENTINELS))


class ValueKind(str, Enum):  # noqa: UP042 (StrEnum would change str(member), which the quarantine text uses)
    MISSING = "missing"
    SENTINEL = "sentinel"
    MAPPED = "mapped"
    UNMAPPED = "unmapped"


@dataclass(frozen=True)
class Lookup:
    kind: ValueKind
    value: Any  # the canonical value when kind is MAPPED, else None


@dataclass(frozen=True)
class Vocabulary:
    """One GDC field family: normalised raw spelling -> canonical value."""

    family: str
    fields: tuple[str, ...]  # the GDC properties this family covers (documentation)
    mapping: Mapping[str, Any]
    return_dtype: pl.DataType

    def lookup(self, raw: Any) -> Lookup:
        if raw is None:
            return Lookup(ValueKind.MISSING, None)
        if not isinstance(raw, str):
            # GDC sends these properties as strings; a number/bool/object here is not a spelling we know.
            return Lookup(ValueKind.UNMAPPED, None)
        key = normalise_spelling(raw)
        if key in SENTINELS:
            return Lookup(ValueKind.SENTINEL, None)
        if key in self.mapping:
            return Lookup(ValueKind.MAPPED, self.mapping[key])
        return Lookup(ValueKind.UNMAPPED, None)

    def expr(self, column: pl.Expr, *, normalised: bool = False) -> pl.Expr:
        """Canonical value of a string column; null for missing, sentinel and unmapped values.
        `normalised=True`: the column already holds `normalised_expr` keys (compute them once per column
        when both `expr` and `unmapped_expr` are needed: the normalisation is the costly part)."""
        key = column if normalised else normalised_expr(column)
        return key.replace_strict(dict(self.mapping), default=None, return_dtype=self.return_dtype)

    def unmapped_expr(self, column: pl.Expr, *, normalised: bool = False) -> pl.Expr:
        """True where a value is present, not a sentinel and not in the map (an error to quarantine)."""
        key = column if normalised else normalised_expr(column)
        known = list(SENTINELS.union(self.mapping.keys()))
        return (key.is_not_null() & ~key.is_in(known)).fill_null(False)


def _vocabulary(family: str, fields: tuple[str, ...], mapping: Mapping[str, Any], dtype: pl.DataType) -> Vocabulary:
    normalised = {normalise_spelling(k): v for k, v in mapping.items()}
    overlap = SENTINELS.intersection(normalised)
    if overlap:  # a map must never turn "unknown" into a value
        raise ValueError(f"vocabulary {family} maps sentinel spellings {sorted(overlap)}")
    return Vocabulary(family, fields, normalised, dtype)


# --- demographic ---------------------------------------------------------------------------------

SEX = _vocabulary(
    "sex",
    ("demographic.sex_at_birth", "demographic.gender"),
    {"female": "female", "male": "male", "f": "female", "m": "male"},
    pl.String(),
)

RACE = _vocabulary(
    "race",
    ("demographic.race",),
    {
        "white": "white",
        "black or african american": "black or african american",
        "asian": "asian",
        "american indian or alaska native": "american indian or alaska native",
        "native hawaiian or other pacific islander": "native hawaiian or other pacific islander",
        "other": "other",
    },
    pl.String(),
)

ETHNICITY = _vocabulary(
    "ethnicity",
    ("demographic.ethnicity",),
    {"hispanic or latino": "hispanic or latino", "not hispanic or latino": "not hispanic or latino"},
    pl.String(),
)

# `Alive`/`Dead` on demographic (DR17 on), `alive`/`dead` on diagnoses in the 2017 data model.
VITAL_STATUS = _vocabulary(
    "vital_status",
    ("demographic.vital_status", "diagnoses.vital_status"),
    {"alive": "Alive", "dead": "Dead", "deceased": "Dead", "living": "Alive"},
    pl.String(),
)

# `yes`/`no` on diagnoses and treatments, `Yes`/`No` on follow_ups, JSON booleans as `true`/`false`
# (TSV exports write `True`/`False`).
YES_NO = _vocabulary(
    "yes_no",
    (
        "diagnoses.treatments.treatment_or_therapy",
        "diagnoses.diagnosis_is_primary_disease",
        "diagnoses.prior_treatment",
        "follow_ups.progression_or_recurrence",
    ),
    {"yes": True, "no": False, "true": True, "false": False, "y": True, "n": False},
    pl.Boolean(),
)

# --- diagnosis: grade ------------------------------------------------------------------------------

# tumor_grade enum (dictionary 3.x): canonical code per spelling. Only G2/G3/G4 are WHO CNS grades of a
# diffuse glioma; the others are recognised (not errors) but give no WHO grade.
TUMOR_GRADE = _vocabulary(
    "tumor_grade",
    ("diagnoses.tumor_grade",),
    {
        "g1": "G1",
        "g2": "G2",
        "g3": "G3",
        "g4": "G4",
        "gb": "GB",
        "gx": "GX",
        "high grade": "High Grade",
        "intermediate grade": "Intermediate Grade",
        "low grade": "Low Grade",
    },
    pl.String(),
)
WHO_GRADE_BY_TUMOR_GRADE: dict[str, int] = {"G2": 2, "G3": 3, "G4": 4}
# GBM is WHO grade 4 by definition (GDC_API_FACTS 2.3), so the project stands in for a missing tumor_grade.
PROJECT_IMPLIED_WHO_GRADE: dict[str, int] = {"TCGA-GBM": 4}

# --- diagnosis: histology --------------------------------------------------------------------------

HISTOLOGY_FAMILIES: tuple[str, ...] = ("glioblastoma", "astrocytoma", "oligodendroglioma", "oligoastrocytoma", "other")

PRIMARY_DIAGNOSIS = _vocabulary(
    "primary_diagnosis",
    ("diagnoses.primary_diagnosis",),
    {
        # TCGA spellings (GDC_API_FACTS 2.2)
        "Glioblastoma": "glioblastoma",
        "Astrocytoma, NOS": "astrocytoma",
        "Astrocytoma, anaplastic": "astrocytoma",
        "Oligodendroglioma, NOS": "oligodendroglioma",
        "Oligodendroglioma, anaplastic": "oligodendroglioma",
        "Mixed glioma": "oligoastrocytoma",
        # other GDC dictionary names of the same families (WHO 2016 names included)
        "Glioblastoma, NOS": "glioblastoma",
        "Giant cell glioblastoma": "glioblastoma",
        "Gliosarcoma": "glioblastoma",
        "Glioblastoma, IDH-wildtype": "glioblastoma",
        "Glioblastoma, IDH wildtype": "glioblastoma",
        "Glioblastoma, IDH-mutant": "glioblastoma",
        "Glioblastoma, IDH mutant": "glioblastoma",
        "Astrocytoma": "astrocytoma",
        "Anaplastic astrocytoma": "astrocytoma",
        "Anaplastic astrocytoma, IDH-mutant": "astrocytoma",
        "Anaplastic astrocytoma, IDH-wildtype": "astrocytoma",
        "Astrocytoma, IDH-mutant": "astrocytoma",
        "Diffuse astrocytoma": "astrocytoma",
        "Diffuse astrocytoma, IDH-mutant": "astrocytoma",
        "Diffuse astrocytoma, IDH-wildtype": "astrocytoma",
        "Fibrillary astrocytoma": "astrocytoma",
        "Gemistocytic astrocytoma": "astrocytoma",
        "Protoplasmic astrocytoma": "astrocytoma",
        "Oligodendroglioma": "oligodendroglioma",
        "Oligodendroglioma, IDH-mutant and 1p/19q-codeleted": "oligodendroglioma",
        "Anaplastic oligodendroglioma": "oligodendroglioma",
        "Anaplastic oligodendroglioma, IDH-mutant and 1p/19q-codeleted": "oligodendroglioma",
        "Oligoastrocytoma": "oligoastrocytoma",
        "Oligoastrocytoma, NOS": "oligoastrocytoma",
        "Anaplastic oligoastrocytoma": "oligoastrocytoma",
        # other CNS tumours a glioma project can carry
        "Glioma, malignant": "other",
        "Glioma, NOS": "other",
        "Pilocytic astrocytoma": "other",
        "Pleomorphic xanthoastrocytoma": "other",
        "Ependymoma, NOS": "other",
        "Ependymoma, anaplastic": "other",
        "Gliomatosis cerebri": "other",
        "Ganglioglioma, NOS": "other",
        "Neoplasm, malignant": "other",
    },
    pl.String(),
)

# ICD-O-3 morphology (histology/behaviour) codes -> family. Used when primary_diagnosis carries no
# histology (the 2017 data model put the ICD-O *topography* code, e.g. `c71.9`, there).
MORPHOLOGY = _vocabulary(
    "morphology",
    ("diagnoses.morphology",),
    {
        "9440/3": "glioblastoma",
        "9441/3": "glioblastoma",
        "9442/3": "glioblastoma",
        "9445/3": "glioblastoma",
        "9400/3": "astrocytoma",
        "9401/3": "astrocytoma",
        "9410/3": "astrocytoma",
        "9411/3": "astrocytoma",
        "9420/3": "astrocytoma",
        "9450/3": "oligodendroglioma",
        "9451/3": "oligodendroglioma",
        "9382/3": "oligoastrocytoma",
        "9380/3": "other",
        "9421/1": "other",
        "9424/3": "other",
        "9391/3": "other",
        "9392/3": "other",
        "9505/1": "other",
    },
    pl.String(),
)

# `c71.9`, `C71.0`: an ICD-O topography (site) code, i.e. no histology at all.
ICDO_TOPOGRAPHY_PATTERN = r"^[cC]\d{2}(\.\d)?$"
# Any well-formed ICD-O-3 morphology code outside the glioma map is a real, non-glioma histology.
ICDO_MORPHOLOGY_PATTERN = r"^\d{4}/\d$"

# --- treatments ------------------------------------------------------------------------------------

# treatment_type enum of the GDC dictionary -> what it says about the three harmonised flags.
RADIATION = "radiation"
CHEMOTHERAPY = "chemotherapy"
CHEMORADIATION = "chemoradiation"
OTHER_TREATMENT = "other"

TREATMENT_TYPE = _vocabulary(
    "treatment_type",
    ("diagnoses.treatments.treatment_type",),
    {
        **{
            name: RADIATION
            for name in (
                "Radiation Therapy, NOS",
                "Radiation, 2D Conventional",
                "Radiation, 3D Conformal",
                "Radiation, Combination",
                "Radiation, Cyberknife",
                "Radiation, External Beam",
                "Radiation, Hypofractionated",
                "Radiation, Implants",
                "Radiation, Intensity-Modulated Radiotherapy",
                "Radiation, Internal",
                "Radiation, Mixed Photon Beam",
                "Radiation, Photon Beam",
                "Radiation, Proton Beam",
                "Radiation, Radioisotope",
                "Radiation, Stereotactic/Gamma Knife/SRS",
                "Radiation, Systemic",
                "External Beam Radiation",
                "Internal Radiation",
                "Brachytherapy, NOS",
                "Brachytherapy, High Dose",
                "Brachytherapy, Low Dose",
                "Stereotactic Radiosurgery",
                "I-131 Radiation Therapy",
                "Radioactive Iodine Therapy",
                "Ablation, Radiosurgical",
            )
        },
        # TCGA's BCR "drug" form became `Pharmaceutical Therapy, NOS`; for TCGA gliomas that is
        # chemotherapy (temozolomide above all), so it counts as chemotherapy.
        "Pharmaceutical Therapy, NOS": CHEMOTHERAPY,
        "Chemotherapy": CHEMOTHERAPY,
        "Concurrent Chemoradiation": CHEMORADIATION,
        "Chemoradiation": CHEMORADIATION,
        **{
            name: OTHER_TREATMENT
            for name in (
                "Surgery",
                "Surgery, NOS",
                "Targeted Molecular Therapy",
                "Immunotherapy (Including Vaccines)",
                "Hormone Therapy",
                "Steroid Therapy",
                "Antiseizure Treatment",
                "Ancillary Treatment",
                "Bisphosphonate Therapy",
                "Chemoprotectant",
                "Radiosensitizing Agent",
                "Stem Cell Treatment",
                "Stem Cell Transplantation, NOS",
                "Stem Cell Transplantation, Autologous",
                "Stem Cell Transplantation, Allogeneic",
                "Organ Transplantation",
                "Embolization",
                "Chemoembolization",
                "Radioembolization",
                "Ablation, NOS",
                "Ablation, Cryo",
                "Ablation, Radiofrequency",
                "Ablation, Microwave",
                "Cryoablation",
                "Pleurodesis",
                "Blinded Study, Treatment Unknown",
                "Other",
                "Other Treatment",
                "Biological Therapy",
                "Isolated Limb Perfusion (ILP)",
            )
        },
    },
    pl.String(),
)

TEMOZOLOMIDE = "temozolomide"
CHEMOTHERAPY_AGENT = "chemotherapy_agent"
OTHER_AGENT = "other_agent"

THERAPEUTIC_AGENT = _vocabulary(
    "therapeutic_agents",
    ("diagnoses.treatments.therapeutic_agents",),
    {
        **{name: TEMOZOLOMIDE for name in ("Temozolomide", "Temodar", "Temodal", "TMZ")},
        **{
            name: CHEMOTHERAPY_AGENT
            for name in (
                "Lomustine",
                "CCNU",
                "Carmustine",
                "BCNU",
                "Gliadel Wafer",
                "Carmustine Implant",
                "Procarbazine",
                "Vincristine",
                "PCV",
                "Irinotecan",
                "CPT-11",
                "Carboplatin",
                "Cisplatin",
                "Etoposide",
                "Cyclophosphamide",
                "Methotrexate",
                "Fotemustine",
                "Nimustine",
                "Topotecan",
                "Hydroxyurea",
                "Thiotepa",
            )
        },
        **{
            name: OTHER_AGENT
            for name in (
                "Bevacizumab",
                "Dexamethasone",
                "Erlotinib",
                "Gefitinib",
                "Imatinib",
                "Cediranib",
                "Cilengitide",
                "Tamoxifen",
                "Thalidomide",
                "Isotretinoin",
                "Cis-Retinoic Acid",
                "Celecoxib",
                "Everolimus",
                "Sirolimus",
                "Sorafenib",
                "Sunitinib",
                "Veliparib",
                "Rindopepimut",
                "Poly ICLC",
                "Dendritic Cell Vaccine",
                "Interferon",
                "Tipifarnib",
                "Enzastaurin",
                "Vorinostat",
                "Panobinostat",
                "Nivolumab",
                "Pembrolizumab",
                "Lapatinib",
                "Cetuximab",
            )
        },
    },
    pl.String(),
)

ALL_VOCABULARIES: tuple[Vocabulary, ...] = (
    SEX,
    RACE,
    ETHNICITY,
    VITAL_STATUS,
    YES_NO,
    TUMOR_GRADE,
    PRIMARY_DIAGNOSIS,
    MORPHOLOGY,
    TREATMENT_TYPE,
    THERAPEUTIC_AGENT,
)
