"""Writes survival_input.csv, the fixed input of survival_by_gene.R (run once; both are committed).

150 patients in two strata, times with ties (rounded to 30 days), six genes: two that carry hazard, one with
many tied values, one unrelated, one binary-ish and one that carries hazard only within a stratum."""

import numpy as np

rng = np.random.default_rng(20261205)
n = 150
stratum = rng.integers(0, 2, n)
genes = rng.normal(0, 1, (n, 6))
genes[:, 2] = np.round(genes[:, 2])  # many ties
genes[:, 4] = (genes[:, 4] > 0.5).astype(float) * 3 + rng.normal(0, 0.01, n)
hazard = np.exp(0.8 * genes[:, 0] - 0.5 * genes[:, 1] + 0.7 * stratum + 0.6 * genes[:, 5] * stratum)
death = rng.exponential(1000 / hazard)
censor = rng.uniform(200, 3000, n)
time = np.round(np.minimum(death, censor) / 30) * 30 + 30
event = (death <= censor).astype(int)
quartile = np.searchsorted(np.quantile(genes[:, 0], [0.25, 0.5, 0.75]), genes[:, 0], side="left")
header = "time,event,stratum,quartile_group," + ",".join(f"gene_{i + 1}" for i in range(6))
rows = np.column_stack([time, event, stratum, quartile, genes])
np.savetxt("survival_input.csv", rows, delimiter=",", header=header, comments="", fmt="%.10g")
