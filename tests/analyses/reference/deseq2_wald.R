# Reference DESeq2 results for tests/analyses/test_differential_expression.py (R 4.2, DESeq2 1.38.3).
# Run from this folder: Rscript deseq2_wald.R  (reads deseq2_input_*.csv, writes deseq2_reference_results.csv)
suppressMessages(library(DESeq2))
counts <- as.matrix(read.csv("deseq2_input_counts.csv", row.names = 1))
groups <- read.csv("deseq2_input_groups.csv", row.names = 1)
groups$group <- factor(groups$group, levels = c("A", "B"))
dds <- DESeqDataSetFromMatrix(counts, groups, ~group)
keep <- rowSums(counts(dds) >= 10) >= min(table(groups$group))  # the same gene filter as the lakehouse
dds <- DESeq(dds[keep, ], quiet = TRUE)
res <- results(dds, contrast = c("group", "B", "A"))
write.csv(data.frame(gene = rownames(res), as.data.frame(res)), "deseq2_reference_results.csv", row.names = FALSE)
