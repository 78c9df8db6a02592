"""The analysts' SQL entry points beyond one view per lake table.

Each entry: (qualified view name, source views it needs, select SQL). Created only when the sources
exist, so a partly built lake still gets a valid catalog.
"""

from __future__ import annotations

ANALYST_VIEWS: list[tuple[str, tuple[str, ...], str]] = []
