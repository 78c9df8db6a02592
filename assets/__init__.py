"""Dagster assets and asset checks by layer (raw, harmonised, features, models, scores, reports, catalog): each
reads its inputs, calls domain code, writes through the lake and returns metadata. No domain logic here."""
