"""Gene panels: the one definition of which genes the platform asks GDC about.

Everything that needs a gene list (the raw ssm/cnv assets, the synthetic cohort generator, the marker
calls, the feature matrix) imports it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# The 20 genes of the UCI "Glioma Grading Clinical and Mutation Features" data set (Tasci et al. 2022),
# in the column order of that table.
UCI_GLIOMA_GENES: tuple[str, ...] = (
    "IDH1",
    "TP53",
    "ATRX",
    "PTEN",
    "EGFR",
    "CIC",
    "MUC16",
    "PIK3CA",
    "NF1",
    "PIK3R1",
    "FUBP1",
    "RB1",
    "NOTCH1",
    "BCOR",
    "CSMD3",
    "SMARCA4",
    "GRIN2A",
    "IDH2",
    "FAT4",
    "PDGFRA",
)

# Somatic-mutation panel requested from /ssm_occurrences: the UCI genes plus CDKN2A (WHO CNS5 grading)
# and TERT (promoter mutations define IDH-wildtype glioblastoma; GDC rarely carries them, "if present").
SSM_PANEL_GENES: tuple[str, ...] = UCI_GLIOMA_GENES + ("CDKN2A", "TERT")


@dataclass(frozen=True)
class CnvMarkerGene:
    symbol: str
    gene_id: str  # Ensembl, GRCh38
    chromosome: str  # GDC cnv naming: no "chr" prefix
    arm: str  # "p" or "q"
    start_position: int
    end_position: int


# Copy-number marker panel: 12 genes on each of 1p, 19q, chromosome 7 and chromosome 10 (so arm-level
# 1p/19q codeletion and whole-chromosome 7 gain / 10 loss can be called by majority of genes, since GDC
# gives no arm-level call — GDC_API_FACTS 4.2), plus CDKN2A on 9p (homozygous deletion, WHO CNS5 grade 4
# astrocytoma). Positions are approximate GRCh38 gene spans.
CNV_MARKER_GENES: tuple[CnvMarkerGene, ...] = (
    CnvMarkerGene("TP73", "ENSG00000078900", "1", "p", 3652516, 3736201),
    CnvMarkerGene("CHD5", "ENSG00000116254", "1", "p", 6101787, 6180321),
    CnvMarkerGene("CAMTA1", "ENSG00000171735", "1", "p", 6785324, 7769706),
    CnvMarkerGene("KIF1B", "ENSG00000054523", "1", "p", 10210570, 10381603),
    CnvMarkerGene("MTOR", "ENSG00000198793", "1", "p", 11106535, 11262551),
    CnvMarkerGene("SDHB", "ENSG00000117118", "1", "p", 17018722, 17054170),
    CnvMarkerGene("ARID1A", "ENSG00000117713", "1", "p", 26693236, 26782104),
    CnvMarkerGene("MYCL", "ENSG00000116990", "1", "p", 39895427, 39902256),
    CnvMarkerGene("MUTYH", "ENSG00000132781", "1", "p", 45329163, 45340440),
    CnvMarkerGene("CDKN2C", "ENSG00000123080", "1", "p", 50960745, 50974634),
    CnvMarkerGene("JUN", "ENSG00000177606", "1", "p", 58776845, 58784327),
    CnvMarkerGene("FUBP1", "ENSG00000162613", "1", "p", 77944055, 77979110),
    CnvMarkerGene("CCNE1", "ENSG00000105173", "19", "q", 29811991, 29824312),
    CnvMarkerGene("CEBPA", "ENSG00000245848", "19", "q", 33299934, 33302534),
    CnvMarkerGene("AKT2", "ENSG00000105221", "19", "q", 40230317, 40285536),
    CnvMarkerGene("AXL", "ENSG00000167601", "19", "q", 41219203, 41261766),
    CnvMarkerGene("TGFB1", "ENSG00000105329", "19", "q", 41330531, 41353922),
    CnvMarkerGene("CIC", "ENSG00000079432", "19", "q", 42268537, 42295797),
    CnvMarkerGene("XRCC1", "ENSG00000073050", "19", "q", 43543041, 43580473),
    CnvMarkerGene("BCL3", "ENSG00000069399", "19", "q", 44747705, 44760044),
    CnvMarkerGene("APOE", "ENSG00000130203", "19", "q", 44905791, 44909393),
    CnvMarkerGene("ERCC2", "ENSG00000104884", "19", "q", 45349837, 45370918),
    CnvMarkerGene("ERCC1", "ENSG00000012061", "19", "q", 45407334, 45478828),
    CnvMarkerGene("POLD1", "ENSG00000062822", "19", "q", 50384290, 50418018),
    CnvMarkerGene("CARD11", "ENSG00000198286", "7", "p", 2906146, 3043867),
    CnvMarkerGene("PMS2", "ENSG00000122512", "7", "p", 5970925, 6009106),
    CnvMarkerGene("RAC1", "ENSG00000136238", "7", "p", 6374527, 6403967),
    CnvMarkerGene("ETV1", "ENSG00000006468", "7", "p", 13891229, 13991425),
    CnvMarkerGene("HOXA9", "ENSG00000078399", "7", "p", 27162438, 27165537),
    CnvMarkerGene("IKZF1", "ENSG00000185811", "7", "p", 50304068, 50405101),
    CnvMarkerGene("EGFR", "ENSG00000146648", "7", "p", 55019017, 55211628),
    CnvMarkerGene("CDK6", "ENSG00000105810", "7", "q", 92604921, 92836573),
    CnvMarkerGene("MET", "ENSG00000105976", "7", "q", 116672196, 116798377),
    CnvMarkerGene("SMO", "ENSG00000128602", "7", "q", 129188633, 129213545),
    CnvMarkerGene("BRAF", "ENSG00000157764", "7", "q", 140719327, 140924929),
    CnvMarkerGene("EZH2", "ENSG00000106462", "7", "q", 148807383, 148884321),
    CnvMarkerGene("KLF6", "ENSG00000067082", "10", "p", 3775996, 3785281),
    CnvMarkerGene("GATA3", "ENSG00000107485", "10", "p", 8045378, 8075198),
    CnvMarkerGene("RET", "ENSG00000165731", "10", "q", 43077069, 43130349),
    CnvMarkerGene("CDK1", "ENSG00000170312", "10", "q", 60778331, 60794852),
    CnvMarkerGene("TET1", "ENSG00000138336", "10", "q", 68560337, 68694487),
    CnvMarkerGene("BMPR1A", "ENSG00000107779", "10", "q", 86756601, 86932838),
    CnvMarkerGene("PTEN", "ENSG00000171862", "10", "q", 87863113, 87971930),
    CnvMarkerGene("NFKB2", "ENSG00000077150", "10", "q", 102394110, 102402524),
    CnvMarkerGene("SUFU", "ENSG00000107882", "10", "q", 102503986, 102633535),
    CnvMarkerGene("MXI1", "ENSG00000119950", "10", "q", 110207605, 110287365),
    CnvMarkerGene("FGFR2", "ENSG00000066468", "10", "q", 121478334, 121598458),
    CnvMarkerGene("MGMT", "ENSG00000170430", "10", "q", 129467184, 129770983),
    CnvMarkerGene("CDKN2A", "ENSG00000147889", "9", "p", 21967752, 21995301),
)

CNV_PANEL_GENES: tuple[str, ...] = tuple(g.symbol for g in CNV_MARKER_GENES)

# The two MGMT promoter CpG probes of the MGMT-STP27 model (Bady et al., Acta Neuropathol 124:547, 2012).
MGMT_STP27_PROBES: tuple[str, ...] = ("cg12434587", "cg12981137")

GLIOMA_PROJECTS: tuple[str, ...] = ("TCGA-GBM", "TCGA-LGG")


def cnv_genes_on(chromosome: str, arm: str | None = None) -> tuple[str, ...]:
    """Marker genes on a chromosome (and optionally one arm)."""
    return tuple(g.symbol for g in CNV_MARKER_GENES if g.chromosome == chromosome and (arm is None or g.arm == arm))
