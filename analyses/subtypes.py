"""Expression subtypes per patient (Wang et al. 2017: Classical, Mesenchymal, Proneural), two ways:

* single-sample GSEA (`ssgsea_scores`, exactly GSVA's `method = "ssgsea"`, tau 0.25, normalised by the range of
  all scores; the release table ranks per-gene standardised values) with an empirical p-value per subtype against random gene sets of the same size drawn from the
  measured genes (as GlioVis calls subtypes); the call is the subtype of smallest p (then highest score);
* a simpler centroid call (`centroid_scores`): each gene standardised across the release's patients, the mean
  over each subtype's measured genes; the call is the highest.

Memory: ranks, positions and weights of a block of 64 patients (64 x 60,660 x 8 bytes = 31 MB each), and block x
permutations x set size for the random sets (64 x 1,000 x 70 x 8 bytes = 36 MB); the caller's standardised copy of
the matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analyses.gene_sets import MatchedSet

SSGSEA_TAU = 0.25
SUBTYPE_PERMUTATIONS = 1000


def _ranking(values: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Per patient (row): GSVA's weights |rank|^tau (average ranks truncated to integers, as GSVA) and each
    gene's 1-based position in the patient's ranking (highest first; ties in gene order, as R `order`)."""
    ranks = np.floor(stats.rankdata(values, axis=1, method="average"))
    order = np.argsort(-ranks, axis=1, kind="stable")
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(1, values.shape[1] + 1)[None, :].repeat(len(values), 0), axis=1)
    return ranks**tau, position


def _walk(weights: np.ndarray, position: np.ndarray, n_genes: int) -> np.ndarray:
    """GSVA's closed-form random walk sum for gene sets given as the last axis (weights and positions of the
    set's genes): sum over the ranking of (in-set CDF - out-of-set CDF)."""
    k = weights.shape[-1]
    steps = n_genes - position + 1
    inside = (weights * steps).sum(-1) / weights.sum(-1)
    outside = (n_genes * (n_genes + 1) / 2 - steps.sum(-1)) / (n_genes - k)
    return inside - outside


def ssgsea_raw(values: np.ndarray, sets: Sequence[MatchedSet], tau: float = SSGSEA_TAU, block: int = 64) -> np.ndarray:
    """Unnormalised ssGSEA enrichment scores, patients x sets; ranks are computed `block` patients at a time."""
    n_genes = values.shape[1]
    scores = np.full((len(values), len(sets)), np.nan)
    for start in range(0, len(values), block):
        weights, position = _ranking(values[start : start + block], tau)
        for column, gene_set in enumerate(sets):
            if gene_set.n_measured:
                index = np.asarray(gene_set.indices)
                scores[start : start + block, column] = _walk(weights[:, index], position[:, index], n_genes)
    return scores


def ssgsea_scores(values: np.ndarray, sets: Sequence[MatchedSet], tau: float = SSGSEA_TAU) -> np.ndarray:
    """GSVA `gsva(method = "ssgsea", ssgsea.norm = TRUE)`: scores divided by the range of all scores."""
    raw = ssgsea_raw(values, sets, tau)
    spread = np.nanmax(raw) - np.nanmin(raw)
    return raw / spread if spread > 0 else raw


@dataclass(frozen=True)
class SubtypeCalls:
    scores: np.ndarray  # patients x subtypes, normalised ssGSEA
    p_values: np.ndarray  # patients x subtypes, empirical
    call: np.ndarray  # index of the called subtype per patient
    centroid_scores: np.ndarray  # patients x subtypes, mean standardised value
    centroid_call: np.ndarray
    permutations: int


def empirical_p_values(
    values: np.ndarray, sets: Sequence[MatchedSet], permutations: int, seed: int, block: int = 64
) -> np.ndarray:
    """P(random set of the same size scores >= the subtype's set), per patient and set: (1 + hits) / (1 + B).
    The same B random sets (seeded) are used for every patient, so a result is reproducible."""
    rng = np.random.default_rng(seed)
    n_genes = values.shape[1]
    random_sets = {
        size: np.stack([rng.choice(n_genes, size, replace=False) for _ in range(permutations)])
        for size in {s.n_measured for s in sets if s.n_measured}
    }
    p = np.full((len(values), len(sets)), np.nan)
    for start in range(0, len(values), block):
        weights, position = _ranking(values[start : start + block], SSGSEA_TAU)
        for column, gene_set in enumerate(sets):
            if not gene_set.n_measured:
                continue
            index = np.asarray(gene_set.indices)
            observed = _walk(weights[:, index], position[:, index], n_genes)
            drawn = random_sets[gene_set.n_measured]
            null = _walk(weights[:, drawn], position[:, drawn], n_genes)  # block x permutations
            p[start : start + block, column] = (1 + (null >= observed[:, None]).sum(1)) / (1 + permutations)
    return p


def standardise(values: np.ndarray) -> np.ndarray:
    """Each gene column centred and scaled across patients (a constant gene becomes 0)."""
    spread = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, (values - values.mean(axis=0)) / spread, 0.0)


def centroid_scores(values: np.ndarray, sets: Sequence[MatchedSet]) -> np.ndarray:
    """Mean over each set's measured genes of the gene's value standardised across patients."""
    standardised = standardise(values)
    scores = np.full((len(values), len(sets)), np.nan)
    for column, gene_set in enumerate(sets):
        if gene_set.n_measured:
            scores[:, column] = standardised[:, np.asarray(gene_set.indices)].mean(axis=1)
    return scores


def call_subtypes(
    values: np.ndarray, sets: Sequence[MatchedSet], *, permutations: int = SUBTYPE_PERMUTATIONS, seed: int = 2017
) -> SubtypeCalls:
    """Both calls for every patient row of `values` (patients x genes, log2 normalised expression)."""
    scores = ssgsea_scores(values, sets)
    p_values = empirical_p_values(values, sets, permutations, seed)
    # Smallest p, then highest score: lexsort's last key is primary.
    call = np.array(
        [
            np.lexsort((-np.nan_to_num(s, nan=-np.inf), np.nan_to_num(p, nan=2.0)))[0]
            for s, p in zip(scores, p_values, strict=True)
        ]
    )
    centroid = centroid_scores(values, sets)
    centroid_call = np.argmax(np.nan_to_num(centroid, nan=-np.inf), axis=1)
    return SubtypeCalls(scores, p_values, call, centroid, centroid_call, permutations)
