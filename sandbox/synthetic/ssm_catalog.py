"""Representative somatic variants per panel gene, annotated the way GDC's ssm documents are.

Annotation facts only (no frequencies: those are in cohort_model.py). Gene and transcript ids are real
Ensembl GRCh38 ids; hotspots are the published GRCh38 coordinates (IDH1 R132H chr2:208248388C>T, IDH2
R172K chr15:90088606C>T, TP53 R273H chr17:7673802C>T, PIK3CA E545K, PTEN R130Q, PDGFRA D842V, EGFR A289V,
TERT promoter C228T chr5:1295113G>A); the other variants are representative truncating or missense
changes at plausible positions (as in the real dev bundle). Each occurrence lists the canonical transcript
and one other transcript of the same gene, as GDC returns several consequences per ssm.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.panels import SSM_PANEL_GENES


@dataclass(frozen=True)
class Variant:
    gene: str
    gene_id: str
    chromosome: str  # ssm naming: with "chr"
    start_position: int
    reference_allele: str
    tumor_allele: str
    aa_change: str | None
    consequence_type: str
    vep_impact: str
    canonical_transcript: str
    other_transcript: str
    other_is_non_coding: bool = False  # the other transcript is non-coding (aa_change null there)

    @property
    def end_position(self) -> int:
        return self.start_position + max(len(self.reference_allele.strip("-")), 1) - 1

    @property
    def mutation_subtype(self) -> str:
        if self.reference_allele == "-":
            return "Small insertion"
        if self.tumor_allele == "-":
            return "Small deletion"
        return "Single base substitution"

    @property
    def genomic_dna_change(self) -> str:
        if self.tumor_allele == "-":
            return f"{self.chromosome}:g.{self.start_position}del{self.reference_allele}"
        return f"{self.chromosome}:g.{self.start_position}{self.reference_allele}>{self.tumor_allele}"

    @property
    def key(self) -> str:
        return f"{self.gene}:{self.genomic_dna_change}"


_GENES = {  # symbol: (gene_id, chromosome, canonical transcript, other transcript)
    "IDH1": ("ENSG00000138413", "chr2", "ENST00000345146", "ENST00000415913"),
    "IDH2": ("ENSG00000182054", "chr15", "ENST00000330062", "ENST00000540499"),
    "TP53": ("ENSG00000141510", "chr17", "ENST00000269305", "ENST00000445888"),
    "ATRX": ("ENSG00000085224", "chrX", "ENST00000373344", "ENST00000395603"),
    "PTEN": ("ENSG00000171862", "chr10", "ENST00000371953", "ENST00000472832"),
    "EGFR": ("ENSG00000146648", "chr7", "ENST00000275493", "ENST00000455089"),
    "CIC": ("ENSG00000079432", "chr19", "ENST00000575354", "ENST00000572681"),
    "MUC16": ("ENSG00000181143", "chr19", "ENST00000397910", "ENST00000599436"),
    "PIK3CA": ("ENSG00000121879", "chr3", "ENST00000263967", "ENST00000643187"),
    "NF1": ("ENSG00000196712", "chr17", "ENST00000358273", "ENST00000356175"),
    "PIK3R1": ("ENSG00000145675", "chr5", "ENST00000521381", "ENST00000274335"),
    "FUBP1": ("ENSG00000162613", "chr1", "ENST00000370768", "ENST00000294623"),
    "RB1": ("ENSG00000139687", "chr13", "ENST00000267163", "ENST00000650461"),
    "NOTCH1": ("ENSG00000148400", "chr9", "ENST00000651671", "ENST00000277541"),
    "BCOR": ("ENSG00000183337", "chrX", "ENST00000378444", "ENST00000342274"),
    "CSMD3": ("ENSG00000164796", "chr8", "ENST00000297405", "ENST00000343508"),
    "SMARCA4": ("ENSG00000127616", "chr19", "ENST00000646693", "ENST00000344626"),
    "GRIN2A": ("ENSG00000183454", "chr16", "ENST00000330684", "ENST00000396573"),
    "FAT4": ("ENSG00000196159", "chr4", "ENST00000394329", "ENST00000335110"),
    "PDGFRA": ("ENSG00000134853", "chr4", "ENST00000257290", "ENST00000508170"),
    "CDKN2A": ("ENSG00000147889", "chr9", "ENST00000304494", "ENST00000579755"),
    "TERT": ("ENSG00000164362", "chr5", "ENST00000310581", "ENST00000334602"),
}

_MISSENSE = ("missense_variant", "MODERATE")
_STOP = ("stop_gained", "HIGH")
_FRAMESHIFT = ("frameshift_variant", "HIGH")

# gene: list of (start, ref, alt, aa_change, (consequence_type, impact)); order matters: cohort_model's
# hotspot shares index into it (IDH1: R132H, R132C, R132G, R132S; IDH2: R172K, R172M, R172W;
# TP53: R273H, R273C, R175H, R248Q, R248W).
_VARIANT_ROWS: dict[str, list[tuple]] = {
    "IDH1": [
        (208248388, "C", "T", "R132H", _MISSENSE),
        (208248389, "G", "A", "R132C", _MISSENSE),
        (208248389, "G", "C", "R132G", _MISSENSE),
        (208248389, "G", "T", "R132S", _MISSENSE),
    ],
    "IDH2": [
        (90088606, "C", "T", "R172K", _MISSENSE),
        (90088606, "C", "A", "R172M", _MISSENSE),
        (90088607, "T", "A", "R172W", _MISSENSE),
    ],
    "TP53": [
        (7673802, "C", "T", "R273H", _MISSENSE),
        (7673803, "G", "A", "R273C", _MISSENSE),
        (7675088, "C", "T", "R175H", _MISSENSE),
        (7674220, "C", "T", "R248Q", _MISSENSE),
        (7674221, "G", "A", "R248W", _MISSENSE),
    ],
    "ATRX": [(77683012, "G", "A", "R1426*", _STOP), (77696642, "T", "-", "E1015Kfs*10", _FRAMESHIFT)],
    "PTEN": [(87933148, "G", "A", "R130Q", _MISSENSE), (87957915, "C", "T", "R233*", _STOP)],
    "EGFR": [(55152546, "C", "T", "A289V", _MISSENSE), (55154129, "G", "T", "G598V", _MISSENSE)],
    "CIC": [(42287566, "C", "T", "R215W", _MISSENSE), (42288102, "G", "A", "R1515H", _MISSENSE)],
    "MUC16": [(8960112, "G", "A", "P3852L", _MISSENSE), (8968340, "C", "T", "R3211Q", _MISSENSE)],
    "PIK3CA": [(179218303, "G", "A", "E545K", _MISSENSE), (179234297, "A", "G", "H1047R", _MISSENSE)],
    "NF1": [(31327732, "C", "T", "R1947*", _STOP), (31258484, "A", "-", "N1229Tfs*7", _FRAMESHIFT)],
    "PIK3R1": [(68293766, "A", "G", "N564D", _MISSENSE), (68293310, "G", "A", "G376R", _MISSENSE)],
    "FUBP1": [(77955340, "G", "A", "R430*", _STOP), (77969118, "T", "-", "Y137Ifs*9", _FRAMESHIFT)],
    "RB1": [(48367512, "C", "T", "R320*", _STOP), (48465231, "A", "-", "K715Rfs*3", _FRAMESHIFT)],
    "NOTCH1": [(136496600, "G", "A", "Q2460*", _STOP), (136496301, "G", "-", "P2514Rfs*4", _FRAMESHIFT)],
    "BCOR": [(40073841, "G", "A", "R1480*", _STOP), (40075977, "G", "-", "S1137Ffs*11", _FRAMESHIFT)],
    "CSMD3": [(112415321, "C", "T", "R2345H", _MISSENSE), (112521503, "G", "A", "P1544L", _MISSENSE)],
    "SMARCA4": [(11029564, "C", "T", "T910M", _MISSENSE), (11033702, "G", "A", "R1192H", _MISSENSE)],
    "GRIN2A": [(9847210, "C", "T", "E371K", _MISSENSE), (9763475, "G", "A", "R1067W", _MISSENSE)],
    "FAT4": [(125413870, "G", "A", "D3220N", _MISSENSE), (125321547, "C", "T", "R1487C", _MISSENSE)],
    "PDGFRA": [(54285926, "A", "T", "D842V", _MISSENSE), (54274888, "G", "A", "R481Q", _MISSENSE)],
    "CDKN2A": [(21971120, "G", "A", "R80*", _STOP), (21971000, "C", "T", "R58*", _STOP)],
    "TERT": [
        (1295113, "G", "A", None, ("upstream_gene_variant", "MODIFIER")),
        (1295135, "G", "A", None, ("upstream_gene_variant", "MODIFIER")),
    ],
}


def _build() -> dict[str, tuple[Variant, ...]]:
    catalog: dict[str, tuple[Variant, ...]] = {}
    for gene in SSM_PANEL_GENES:
        gene_id, chromosome, canonical, other = _GENES[gene]
        catalog[gene] = tuple(
            Variant(
                gene=gene,
                gene_id=gene_id,
                chromosome=chromosome,
                start_position=start,
                reference_allele=ref,
                tumor_allele=alt,
                aa_change=aa,
                consequence_type=cons,
                vep_impact=impact,
                canonical_transcript=canonical,
                other_transcript=other,
                other_is_non_coding=(gene == "PTEN"),
            )
            for start, ref, alt, aa, (cons, impact) in _VARIANT_ROWS[gene]
        )
    return catalog


VARIANTS: dict[str, tuple[Variant, ...]] = _build()
