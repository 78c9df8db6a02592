# Reference ssGSEA scores for tests/analyses/test_subtypes.py (R 4.2, GSVA 1.46.0).
# Run from this folder: Rscript ssgsea.R  (reads ssgsea_input.csv and ssgsea_sets.tsv, writes ssgsea_reference.csv)
suppressMessages(library(GSVA))
x <- as.matrix(read.csv("ssgsea_input.csv", row.names = 1))
s <- read.delim("ssgsea_sets.tsv")
sets <- split(s$gene, s$set)
es <- gsva(x, sets, method = "ssgsea", ssgsea.norm = TRUE, tau = 0.25, verbose = FALSE)
write.csv(data.frame(set = rownames(es), es, check.names = FALSE), "ssgsea_reference.csv", row.names = FALSE)
