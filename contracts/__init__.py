"""Contracts: every table declared once (layer, name, columns, types, meanings), the gene panels, feature lists
and vocabularies. The bottom layer: it imports only polars; every other package may import it."""
