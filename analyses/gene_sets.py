"""The gene sets the analyses use, read from the files shipped in `contracts/gene_sets/` (with their licence and
provenance), and the matching of their symbols to a release's gene names (old symbols mapped to current ones)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

GENE_SET_FOLDER = Path(__file__).resolve().parents[1] / "contracts" / "gene_sets"
HALLMARK_FILE = GENE_SET_FOLDER / "h.all.v7.5.1.symbols.gmt"
HALLMARK_COLLECTION = "MSigDB Hallmark 7.5.1"
WANG_SUBTYPE_FILE = GENE_SET_FOLDER / "wang2017_glioma_subtypes.tsv"
SUBTYPES = ("Classical", "Mesenchymal", "Proneural")

# Wang et al.'s 2015-era array symbols that HGNC has renamed since (previous symbol -> current symbol(s), newest
# first). A symbol is matched as written when the release has it, else through the first candidate it has, so
# the map works for GENCODE versions before and after a rename.
SYMBOL_UPDATES: Mapping[str, tuple[str, ...]] = {
    "ACPP": ("ACP3",),
    "ARNTL": ("BMAL1",),
    "C14orf159": ("DGLUCY",),
    "C20orf42": ("FERMT1",),
    "C2orf27": ("C2orf27A",),
    "C5orf4": ("FAXDC2",),
    "CENTD1": ("ARAP2",),
    "CENTG1": ("AGAP2",),
    "ECGF1": ("TYMP",),
    "GPR23": ("LPAR4",),
    "H2AFZ": ("H2AZ1",),
    "HN1": ("JPT1",),
    "HRASLS": ("PLAAT1",),
    "KIAA0329": ("TECPR2",),
    "KIAA0355": ("GARRE1",),
    "LHFP": ("LHFPL6",),
    "LOC57228": ("SMAGP",),
    "LOC81691": ("REXO5",),
    "MOSC2": ("MTARC2", "MARC2"),
    "PAK7": ("PAK5",),
    "PTTG3": ("PTTG3P",),
    "SEPT11": ("SEPTIN11",),
    "SGEF": ("ARHGEF26",),
    "SSFA2": ("ITPRID2",),
    "TMSL8": ("TMSB15A",),
    "TNRC4": ("CELF3",),
}


@dataclass(frozen=True)
class MatchedSet:
    """A gene set as published and the column indices of its genes in one release's gene list."""

    name: str
    genes: tuple[str, ...]
    indices: tuple[int, ...]
    matched_names: tuple[str, ...]

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def n_measured(self) -> int:
        return len(self.indices)


@cache
def hallmark_sets() -> dict[str, tuple[str, ...]]:
    """MSigDB Hallmark: set name -> genes (GMT: name, URL, genes; tab-separated)."""
    sets = {}
    for line in HALLMARK_FILE.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            sets[fields[0]] = tuple(dict.fromkeys(gene for gene in fields[2:] if gene))
    return sets


@cache
def wang_subtype_sets() -> dict[str, tuple[str, ...]]:
    frame = pl.read_csv(WANG_SUBTYPE_FILE, separator="\t")
    return {subtype: tuple(frame.filter(pl.col("subtype") == subtype)["gene"]) for subtype in SUBTYPES}


def match_sets(sets: Mapping[str, Iterable[str]], gene_names: Iterable[str]) -> list[MatchedSet]:
    """Each set's genes located in `gene_names` (a release's gene columns, in order); renamed symbols through
    SYMBOL_UPDATES. A gene name present twice in the release (a few GENCODE names are) matches its first column."""
    position: dict[str, int] = {}
    for index, name in enumerate(gene_names):
        position.setdefault(name, index)
    matched = []
    for name, genes in sets.items():
        genes = tuple(genes)
        indices, names = [], []
        for gene in genes:
            current = (
                gene if gene in position else next((c for c in SYMBOL_UPDATES.get(gene, ()) if c in position), None)
            )
            if current is not None and position[current] not in indices:
                indices.append(position[current])
                names.append(current)
        matched.append(MatchedSet(name, genes, tuple(indices), tuple(names)))
    return matched
