"""Writes ssgsea_input.csv (genes x samples, continuous, no ties) and ssgsea_sets.tsv, the fixed inputs of
ssgsea.R (run once; both are committed)."""

import numpy as np

rng = np.random.default_rng(2017)
genes, samples = 300, 40
values = rng.normal(5, 2, (genes, samples))
values[:20, :15] += 2.5  # a program up in the first 15 samples
names = [f"G{i:03d}" for i in range(genes)]
with open("ssgsea_input.csv", "w") as out:
    out.write("gene," + ",".join(f"S{j:02d}" for j in range(samples)) + "\n")
    for name, row in zip(names, values, strict=True):
        out.write(name + "," + ",".join(f"{v:.10g}" for v in row) + "\n")
sets = {"program": names[:20], "random_a": names[100:135], "mixed": names[10:30] + names[200:210]}
with open("ssgsea_sets.tsv", "w") as out:
    out.write("set\tgene\n")
    for name, members in sets.items():
        out.writelines(f"{name}\t{gene}\n" for gene in members)
