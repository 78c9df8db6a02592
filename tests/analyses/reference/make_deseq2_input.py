"""Writes deseq2_input_counts.csv (genes x samples) and deseq2_input_groups.csv, the fixed inputs of
deseq2_wald.R (run once; both are committed): 24 samples, 300 genes, 30 planted 4-fold changes (15 up, 15 down)."""

import numpy as np

rng = np.random.default_rng(18)
genes, samples = 300, 24
group = np.array([0] * 12 + [1] * 12)
mean = rng.lognormal(4, 1.5, genes)
fold = np.ones(genes)
fold[:15], fold[15:30] = 4.0, 0.25
size = rng.uniform(0.6, 1.6, samples)
mu = mean[:, None] * size[None, :] * np.where(group[None, :] == 1, fold[:, None], 1.0)
dispersion = 0.05 + 1 / np.sqrt(mean)[:, None]
counts = rng.negative_binomial(1 / dispersion, 1 / (1 + mu * dispersion))
with open("deseq2_input_counts.csv", "w") as out:
    out.write("gene," + ",".join(f"S{j:02d}" for j in range(samples)) + "\n")
    for i, row in enumerate(counts):
        out.write(f"G{i:03d}," + ",".join(str(v) for v in row) + "\n")
with open("deseq2_input_groups.csv", "w") as out:
    out.write("sample,group\n")
    out.writelines(f"S{j:02d},{'B' if g else 'A'}\n" for j, g in enumerate(group))
