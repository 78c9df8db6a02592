"""Survival by gene, for one gene or all genes at once: Cox hazard ratios, log-rank tests of median and
quartile splits, and the maximally selected rank statistic cut-point with its search-corrected p-value.

Every function takes the expression as a matrix (patients x genes) and is vectorised over genes, so all
60,660 genes of a release cost a few matrix passes instead of 60,660 model fits. Each follows one reference
implementation exactly (tests compare them with R on committed outputs):

* `cox_by_gene`: R `survival::coxph(Surv(time, event) ~ x [+ strata(s)])`, Efron ties, Newton-Raphson
  with step halving, Wald test;
* `logrank_by_gene`: R `survival::survdiff` (rho = 0), k groups, k - 1 degrees of freedom;
* `maxstat_by_gene`: R `maxstat::maxstat.test(..., smethod = "LogRank", pmethod = "Lau92")`, cut-points
  between the 10 % and 90 % quantiles, p-value by Lausen & Schumacher (1992).

Memory: genes are processed in blocks of `block_genes` columns; a block holds a few arrays of
patients x block_genes float64 (700 x 2,048 x 8 bytes = 11 MB each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special  # not scipy.stats: `glioma gene` and the report load this module, 0.5 s faster

Z_95 = float(special.ndtri(0.975))
MAXSTAT_MIN_PROPORTION = 0.1
MAXSTAT_MAX_PROPORTION = 0.9
COX_MAX_ITERATIONS = 20
COX_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CoxFit:
    """Per gene: log hazard ratio per unit, its standard error, Wald p; NaN where the gene does not vary."""

    log_hazard_ratio: np.ndarray
    standard_error: np.ndarray
    p_value: np.ndarray
    converged: np.ndarray

    # A gene that separates the groups has an unbounded interval: exp overflows to inf, which is the answer.
    @property
    def hazard_ratio(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.log_hazard_ratio)

    @property
    def ci_low(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.log_hazard_ratio - Z_95 * self.standard_error)

    @property
    def ci_high(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.log_hazard_ratio + Z_95 * self.standard_error)


@dataclass(frozen=True)
class _RiskSets:
    """One stratum's patients sorted by time, descending, and its event times' tie structure (Efron)."""

    order: np.ndarray  # patient indices, time descending
    risk_end: np.ndarray  # per distinct event time: the risk set is order[:risk_end]
    death_rows: np.ndarray  # rows (in `order`) of the deaths, grouped by event time
    death_groups: np.ndarray  # per distinct event time: where its deaths start in death_rows
    deaths_sorted: np.ndarray  # event indicator in `order`
    tie_time: np.ndarray  # per Efron term: which distinct event time
    tie_fraction: np.ndarray  # per Efron term: l / d for l = 0..d-1


def _risk_sets(time: np.ndarray, event: np.ndarray) -> _RiskSets:
    # Descending time, deaths before censorings at the same time, so one time's deaths are contiguous.
    order = np.lexsort((~event, -time))
    sorted_time, sorted_event = time[order], event[order]
    starts = np.flatnonzero(np.r_[True, sorted_time[1:] != sorted_time[:-1]])
    ends = np.r_[starts[1:], len(order)]
    deaths = np.add.reduceat(sorted_event.astype(np.int64), starts) if len(order) else np.zeros(0, np.int64)
    has_death = deaths > 0
    risk_end, death_count = ends[has_death], deaths[has_death]
    tie_time = np.repeat(np.arange(len(death_count)), death_count)
    tie_fraction = (np.arange(death_count.sum()) - np.repeat(np.cumsum(death_count) - death_count, death_count)) / (
        np.repeat(death_count, death_count)
    )
    death_groups = np.r_[0, np.cumsum(death_count)[:-1]].astype(np.int64)
    return _RiskSets(order, risk_end, np.flatnonzero(sorted_event), death_groups, sorted_event, tie_time, tie_fraction)


def _stratum_terms(x: np.ndarray, beta: np.ndarray, sets: _RiskSets) -> tuple[np.ndarray, ...]:
    """Log partial likelihood, score and information of one stratum, per gene (Efron). `x`: the stratum's
    values in `sets.order`."""
    linear = x * beta
    weight = np.exp(linear)
    weighted = (weight, weight * x, weight * x * x)
    risk = [np.cumsum(w, axis=0)[sets.risk_end - 1] for w in weighted]
    if len(sets.death_rows) == 0:
        zeros = np.zeros(x.shape[1])
        return zeros, zeros, zeros
    tied = [np.add.reduceat(w[sets.death_rows], sets.death_groups, axis=0) for w in weighted]
    fraction = sets.tie_fraction[:, None]
    s0, s1, s2 = (r[sets.tie_time] - fraction * d[sets.tie_time] for r, d in zip(risk, tied, strict=True))
    dead = x[sets.death_rows]
    loglik = (dead * beta).sum(0) - np.log(s0).sum(0)
    mean = s1 / s0
    score = dead.sum(0) - mean.sum(0)
    information = (s2 / s0 - mean**2).sum(0)
    return loglik, score, information


def _cox_block(values: np.ndarray, strata_sets: list[tuple[np.ndarray, _RiskSets]]) -> CoxFit:
    genes = values.shape[1]
    sorted_strata = [(values[members][sets.order], sets) for members, sets in strata_sets]

    def terms(b: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        total = [np.zeros(len(active)), np.zeros(len(active)), np.zeros(len(active))]
        for x, sets in sorted_strata:
            for index, term in enumerate(_stratum_terms(x[:, active], b, sets)):
                total[index] += term
        return total[0], total[1], total[2]

    beta = np.zeros(genes)
    loglik, score, information = terms(beta, np.arange(genes))
    converged = np.zeros(genes, dtype=bool)
    for _ in range(COX_MAX_ITERATIONS):
        # Only the genes still moving are recomputed: most converge in a few Newton steps.
        active = np.flatnonzero(~converged)
        if len(active) == 0:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(information[active] > 0, score[active] / information[active], 0.0)
        old_beta, old_loglik = beta[active], loglik[active]
        candidate = old_beta + step
        new_loglik, new_score, new_information = terms(candidate, active)
        # coxph halves a step that lowers the partial likelihood (beyond rounding).
        for _ in range(30):
            worse = ~np.isfinite(new_loglik) | (new_loglik < old_loglik - 1e-10 * np.maximum(np.abs(old_loglik), 1.0))
            if not worse.any():
                break
            candidate = np.where(worse, (old_beta + candidate) / 2, candidate)
            new_loglik, new_score, new_information = terms(candidate, active)
        done = np.abs(new_loglik - old_loglik) <= COX_TOLERANCE * np.maximum(np.abs(new_loglik), 1.0)
        beta[active], loglik[active], score[active], information[active] = (
            candidate,
            new_loglik,
            new_score,
            new_information,
        )
        converged[active] = done
    with np.errstate(divide="ignore", invalid="ignore"):
        standard_error = 1 / np.sqrt(information)
        p_value = 2 * special.ndtr(-np.abs(beta / standard_error))
    constant = np.ptp(values, axis=0) == 0
    nan = np.where(constant, np.nan, 0.0)
    return CoxFit(beta + nan, standard_error + nan, p_value + nan, converged & ~constant)


def cox_by_gene(
    values: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    strata: np.ndarray | None = None,
    *,
    block_genes: int = 2048,
) -> CoxFit:
    """Univariate Cox model per gene column of `values` (patients x genes), optionally stratified (a
    separate baseline hazard per stratum, as `strata()` in R)."""
    values = np.asarray(values, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    # Centring changes no estimate and keeps exp() in range.
    values = values - values.mean(axis=0)
    labels = np.zeros(len(time), dtype=np.int64) if strata is None else np.unique(strata, return_inverse=True)[1]
    strata_sets = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        strata_sets.append((members, _risk_sets(time[members], event[members])))
    fits = [
        _cox_block(values[:, start : start + block_genes], strata_sets)
        for start in range(0, values.shape[1], block_genes)
    ]
    return CoxFit(*(np.concatenate([getattr(fit, name) for fit in fits]) for name in CoxFit.__dataclass_fields__))


def logrank_by_gene(groups: np.ndarray, time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-rank test per gene column of `groups` (patients x genes, integer group 0..k-1, -1 = left out):
    chi-square statistic and p on k - 1 degrees of freedom, as R `survdiff`."""
    groups = np.asarray(groups)
    k = int(groups.max()) + 1
    order = np.argsort(-time, kind="stable")
    sorted_time, sorted_event = time[order], event[order].astype(bool)
    ends = np.r_[np.flatnonzero(sorted_time[1:] != sorted_time[:-1]) + 1, len(order)]
    starts = np.r_[0, ends[:-1]]
    # Only times with a death contribute.
    with_death = np.add.reduceat(sorted_event.astype(np.int64), starts) > 0
    starts, ends = starts[with_death], ends[with_death]
    g = groups[order]
    at_risk, deaths = [], []
    for level in range(k):
        member = g == level
        at_risk.append(np.cumsum(member, axis=0, dtype=np.float64)[ends - 1])  # event times x genes
        dead = np.vstack(
            [np.zeros((1, g.shape[1])), np.cumsum(member & sorted_event[:, None], axis=0, dtype=np.float64)]
        )
        deaths.append(dead[ends] - dead[starts])
    n_total = sum(at_risk)
    d_total = sum(deaths)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = [np.where(n_total > 0, a / n_total, 0.0) for a in at_risk]
        scale = np.where(n_total > 1, d_total * (n_total - d_total) / (n_total - 1), 0.0)
    observed_minus_expected = np.stack([(deaths[i] - d_total * share[i]).sum(0) for i in range(k)], axis=-1)
    covariance = np.zeros((groups.shape[1], k, k))
    for i in range(k):
        weighted = scale * share[i]
        for j in range(i, k):
            value = (weighted * ((i == j) - share[j])).sum(0)
            covariance[:, i, j] = covariance[:, j, i] = value
    # Drop the last group present (the covariance is singular). Genes with every group present are solved in one
    # batch; the few with an empty group (heavy ties) one at a time.
    statistic = np.full(groups.shape[1], np.nan)
    present = np.diagonal(covariance, axis1=1, axis2=2) > 0
    complete = present.all(axis=1)
    if k >= 2 and complete.any():
        u = observed_minus_expected[complete, : k - 1]
        solved = np.linalg.solve(covariance[complete, : k - 1, : k - 1], u[..., None])[..., 0]
        statistic[complete] = (u * solved).sum(-1)
    for gene in np.flatnonzero(~complete):
        keep = np.flatnonzero(present[gene])[:-1]
        if len(keep):
            u = observed_minus_expected[gene, keep]
            statistic[gene] = u @ np.linalg.solve(covariance[gene][np.ix_(keep, keep)], u)
    # Degrees of freedom as survdiff: groups with someone at risk at an event time, minus one.
    df = np.maximum(present.sum(axis=1) - 1, 1)
    return statistic, special.chdtrc(df, statistic)


def logrank_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Log-rank scores as `exactRankTests::cscores(type = "LogRank")`, which maxstat uses: tied times share
    the largest rank."""
    n = len(time)
    order = np.argsort(time, kind="stable")
    max_rank = np.searchsorted(np.sort(time), time, side="right")  # rank with ties at their largest
    fact = event.astype(np.float64) / (n - max_rank + 1)
    return event.astype(np.float64) - np.cumsum(fact[order])[max_rank.astype(np.int64) - 1]


def lausen92_p_value(statistic: np.ndarray, minprop: float, maxprop: float) -> np.ndarray:
    """Lausen & Schumacher (1992) approximation of P(max |S| >= b) over cut-points between the quantiles."""
    b = np.asarray(statistic, dtype=np.float64)
    density = np.exp(-(b**2) / 2) / np.sqrt(2 * np.pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 4 * density / b + density * (b - 1 / b) * np.log(maxprop * (1 - minprop) / ((1 - maxprop) * minprop))
    return np.where(b < 1, 1.0, np.maximum(p, 0.0))


@dataclass(frozen=True)
class MaxstatResult:
    statistic: np.ndarray  # the maximal standardised log-rank statistic
    cut_point: np.ndarray  # patients with value <= cut_point form the low group
    p_value: np.ndarray  # corrected for the search (Lausen 1992)
    n_low: np.ndarray


def maxstat_by_gene(
    values: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    *,
    minprop: float = MAXSTAT_MIN_PROPORTION,
    maxprop: float = MAXSTAT_MAX_PROPORTION,
) -> MaxstatResult:
    """Maximally selected log-rank statistic per gene column, as `maxstat.test(smethod = "LogRank",
    pmethod = "Lau92")`: the low group is every patient with a value <= the cut-point."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    scores = logrank_scores(np.asarray(time, np.float64), np.asarray(event, bool))
    order = np.argsort(values, axis=0, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=0)
    cumulative = np.cumsum(scores[order], axis=0)
    m = np.arange(1, n)  # low group = the first m patients
    candidate = sorted_values[1:] != sorted_values[:-1]  # a cut between distinct values
    candidate &= ((m >= max(1, np.floor(n * minprop))) & (m <= np.floor(n * maxprop)))[:, None]
    total, squares = scores.sum(), (scores**2).sum()
    expected = m / n * total
    variance = m * (n - m) / (n**2 * (n - 1)) * (n * squares - total**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        standardised = np.abs((cumulative[:-1] - expected[:, None]) / np.sqrt(variance)[:, None])
    standardised = np.where(candidate, standardised, -np.inf)
    best = np.argmax(standardised, axis=0)  # the first maximum, as maxstat
    statistic = standardised[best, np.arange(values.shape[1])]
    cut_point = sorted_values[best, np.arange(values.shape[1])]
    valid = np.isfinite(statistic)
    statistic = np.where(valid, statistic, np.nan)
    p_value = np.where(valid, lausen92_p_value(np.where(valid, statistic, 0), minprop, maxprop), np.nan)
    return MaxstatResult(statistic, np.where(valid, cut_point, np.nan), p_value, np.where(valid, best + 1, 0))


@dataclass(frozen=True)
class KaplanMeier:
    """S(t) just after each distinct time (deaths or censorings), with its pointwise 95% log-log band."""

    time: np.ndarray
    survival: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def kaplan_meier(time: np.ndarray, event: np.ndarray, conf_level: float = 0.95) -> KaplanMeier:
    """The Kaplan-Meier estimate with Greenwood's variance on the log-log scale, exactly as scikit-survival's
    `kaplan_meier_estimator(event, time, conf_type="log-log")` (tested against it)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    unique, inverse = np.unique(time, return_inverse=True)
    deaths = np.bincount(inverse, weights=event, minlength=len(unique))
    leaving = np.bincount(inverse, minlength=len(unique))
    at_risk = len(time) - np.r_[0, np.cumsum(leaving)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(deaths > 0, deaths / at_risk, 0.0)
        variance = np.where((deaths > 0) & (at_risk != deaths), deaths / (at_risk * (at_risk - deaths)), 0.0)
    survival = np.cumprod(1.0 - hazard)
    sigma = np.sqrt(np.cumsum(variance))
    eps = np.finfo(np.float64).eps
    positive = survival > eps
    log_survival = np.log(np.where(positive, survival, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(log_survival < -eps, sigma / log_survival, 0.0)
    z = float(special.ndtri(1 - (1 - conf_level) / 2))
    low, high = (np.where(positive, np.exp(np.exp(sign * z * theta) * log_survival), 0.0) for sign in (-1, 1))
    return KaplanMeier(unique, survival, low, high)
