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
    case_id and one Float64 column per signature. A gene name the release holds twice counts once (its mean)."""
    columns = list(EXPRESSION_SIGNATURES)
    schema = {"case_id": pl.String, **dict.fromkeys(columns, pl.Float64)}
    per_gene = (
        expression.filter(pl.col("gene_name").is_in(list(signature_gene_names())))
        .group_by("case_id", "gene_name")
        .agg(pl.col("log2_normalised_count").cast(pl.Float64).mean())
    )
    cases = expression.select(pl.col("case_id").cast(pl.String)).unique().sort("case_id")
    if cases.is_empty():
        return pl.DataFrame(schema=schema)
    matched = {m.name: m for m in match_sets(signature_gene_sets(), sorted(per_gene["gene_name"].unique().to_list()))}
    scores = cases
    for feature in columns:
        found = matched[feature]
        if found.n_measured < MIN_MEASURED_GENES:
            scores = scores.with_columns(pl.lit(None, pl.Float64).alias(feature))
            continue
        mean = (
            per_gene.filter(pl.col("gene_name").is_in(list(found.matched_names)))
            .group_by("case_id")
            .agg(pl.col("log2_normalised_count").mean().alias(feature))
        )
        scores = scores.join(mean, on="case_id", how="left")
    return scores.select(list(schema)).cast(schema)


def measured_genes(gene_names: list[str]) -> dict[str, str]:
    """Per signature: 'measured of published' genes in a release with these gene names (for the asset's metadata)."""
    return {m.name: f"{m.n_measured} of {m.n_genes}" for m in match_sets(signature_gene_sets(), gene_names)}
