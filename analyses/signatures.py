"""Expression signatures per patient: the mean log2 normalised expression over each fixed published gene set of
`contracts.features.EXPRESSION_SIGNATURES` (Wang et al. 2017 subtype genes, MSigDB Hallmark sets).

Single-sample by construction: nothing is fitted and no label or other patient is read, so a signature is the same
in every CV fold and a model that uses it cannot leak a held-out patient through it. A signature with fewer than
MIN_MEASURED_GENES measured genes is null; how many were measured is what `measured_genes` reports (a release with
all GENCODE genes measures every set whole; a file restricted to a gene panel measures part of each).
Renamed symbols are matched through analyses.gene_sets.SYMBOL_UPDATES. Memory: the long rows of the signature genes
only (about 1,100 genes x patients).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from analyses.gene_sets import SYMBOL_UPDATES, hallmark_sets, match_sets, wang_subtype_sets
from contracts.features import EXPRESSION_SIGNATURES

MIN_MEASURED_GENES = 5


@cache
def signature_gene_sets() -> dict[str, tuple[str, ...]]:
    """Feature name -> the published genes of its set."""
    sources = {"wang2017": wang_subtype_sets(), "hallmark": hallmark_sets()}
    return {feature: sources[source][name] for feature, (source, name) in EXPRESSION_SIGNATURES.items()}


def signature_gene_names() -> frozenset[str]:
    """Every symbol a signature may be measured under (published and current names): what to read from the lake."""
    names = {gene for genes in signature_gene_sets().values() for gene in genes}
    return frozenset(names | {new for old in names for new in SYMBOL_UPDATES.get(old, ())})


def signature_scores(expression: pl.DataFrame) -> pl.DataFrame:
    """`expression`: case_id, gene_name, log2_normalised_count (at least the signature genes). One row per case:
    case_id and one Float64 column per signature. A gene name the release holds twice counts once (its mean).

    The means are taken with numpy over a (cases x genes) array built from sorted rows, so the same input gives the
    same bits in every run (a parallel group-by sums in varying order, and the matrix's content hash, which decides
    retraining and rescoring, would change with the last bit)."""
    columns = list(EXPRESSION_SIGNATURES)
    rows = (
        expression.filter(pl.col("gene_name").is_in(list(signature_gene_names())))
        .select(pl.col("case_id").cast(pl.String), "gene_name", pl.col("log2_normalised_count").cast(pl.Float64))
        .sort("case_id", "gene_name", "log2_normalised_count")
    )
    cases = expression.select(pl.col("case_id").cast(pl.String)).unique()["case_id"].sort().to_list()
    genes = rows["gene_name"].unique().sort().to_list()
    case_index = {case: k for k, case in enumerate(cases)}
    gene_index = {gene: k for k, gene in enumerate(genes)}
    sums = np.zeros((len(cases), len(genes)))
    counts = np.zeros((len(cases), len(genes)))
    at = (
        np.array([case_index[c] for c in rows["case_id"].to_list()], dtype=np.intp),
        np.array([gene_index[g] for g in rows["gene_name"].to_list()], dtype=np.intp),
    )
    np.add.at(sums, at, rows["log2_normalised_count"].to_numpy())  # in row order: deterministic
    np.add.at(counts, at, 1.0)
    with np.errstate(invalid="ignore"):
        per_gene = sums / counts  # NaN where a patient lacks the gene
    scores: dict[str, object] = {"case_id": cases}
    matched = {m.name: m for m in match_sets(signature_gene_sets(), genes)}
    for feature in columns:
        found = matched[feature]
        if found.n_measured < MIN_MEASURED_GENES or not cases:
            scores[feature] = [None] * len(cases)
            continue
        block = per_gene[:, list(found.indices)]
        measured = np.isfinite(block)
        with np.errstate(invalid="ignore"):
            mean = np.where(measured, block, 0.0).sum(axis=1) / measured.sum(axis=1)
        scores[feature] = [float(v) if np.isfinite(v) else None for v in mean]
    return pl.DataFrame(scores, schema={"case_id": pl.String, **dict.fromkeys(columns, pl.Float64)})


def measured_genes(gene_names: list[str]) -> dict[str, str]:
    """Per signature: 'measured of published' genes in a release with these gene names (for the asset's metadata)."""
    return {m.name: f"{m.n_measured} of {m.n_genes}" for m in match_sets(signature_gene_sets(), gene_names)}
