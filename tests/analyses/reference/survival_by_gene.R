# Reference outputs for tests/analyses/test_survival_by_gene.py (R 4.2, survival 3.5-3, maxstat 0.7-25).
# Run from this folder: Rscript survival_by_gene.R  (reads survival_input.csv, writes survival_reference_*.csv)
library(survival)
library(maxstat)
d <- read.csv("survival_input.csv")
genes <- grep("^gene_", names(d), value = TRUE)
cox_row <- function(fit, gene, model) {
  s <- summary(fit)$coefficients
  data.frame(gene = gene, model = model, coef = s[1, "coef"], se = s[1, "se(coef)"], p = s[1, "Pr(>|z|)"])
}
cox <- do.call(rbind, lapply(genes, function(g) rbind(
  cox_row(coxph(as.formula(paste("Surv(time, event) ~", g)), data = d, ties = "efron"), g, "pooled"),
  cox_row(coxph(as.formula(paste("Surv(time, event) ~", g, "+ strata(stratum)")), data = d, ties = "efron"),
          g, "stratified")
)))
write.csv(cox, "survival_reference_cox.csv", row.names = FALSE)
logrank <- do.call(rbind, lapply(genes, function(g) {
  median_group <- as.integer(d[[g]] > median(d[[g]]))
  data.frame(gene = g, split = "median", chisq = survdiff(Surv(time, event) ~ median_group, data = d)$chisq)
}))
logrank <- rbind(logrank, data.frame(gene = "gene_1", split = "quartile_group",
  chisq = survdiff(Surv(time, event) ~ quartile_group, data = d)$chisq))
write.csv(logrank, "survival_reference_logrank.csv", row.names = FALSE)
ms <- do.call(rbind, lapply(genes, function(g) {
  m <- maxstat.test(as.formula(paste("Surv(time, event) ~", g)), data = d, smethod = "LogRank",
                    pmethod = "Lau92", minprop = 0.1, maxprop = 0.9)
  data.frame(gene = g, statistic = unname(m$statistic), cut_point = unname(m$estimate), p = m$p.value)
}))
write.csv(ms, "survival_reference_maxstat.csv", row.names = FALSE)
