# Reference size factors for tests/transforms/test_expression.py, from R's DESeq2 (Debian r-bioc-deseq2 1.38.3):
#   Rscript tests/transforms/reference/deseq2_size_factors.R
# Reads the two count matrices beside this script (genes x samples, CSV with a gene column) and writes
# DESeq2::estimateSizeFactorsForMatrix for each: type "ratio" (median of ratios) on counts_ratio.csv, and
# type "poscounts" on counts_sparse.csv (every gene has a zero somewhere, so "ratio" is undefined there).
suppressPackageStartupMessages(library(DESeq2))
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE))))
for (case in list(c("counts_ratio.csv", "ratio"), c("counts_sparse.csv", "poscounts"))) {
  counts <- as.matrix(read.csv(file.path(here, case[1]), row.names = 1, check.names = FALSE))
  sf <- estimateSizeFactorsForMatrix(counts, type = case[2])
  out <- data.frame(sample = names(sf), size_factor = sprintf("%.15g", sf))
  write.csv(out, file.path(here, sub("counts_", "size_factors_", case[1])), row.names = FALSE, quote = FALSE)
}
cat("DESeq2", as.character(packageVersion("DESeq2")), "\n")
