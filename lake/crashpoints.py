"""Named crash points for the reliability suite: `GLIOMA_CRASH_AT=<name>` makes the process kill its whole
process group with SIGKILL (as a lost node would: the run worker and any step processes) when it reaches
that point. The suite starts each refresh in a session of its own.

Random kills cannot be relied on to land in the short windows that matter most — between a model's
registration and its scores, between the lake commit and the catalog rename — so those windows are named
here and tests/reliability kills the refresh there, every time. Unset (always, in production) a crash
point is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "GLIOMA_CRASH_AT"
# Every point, so a test can ask for each and a typo in a test is an error, not a silent no-op.
CRASH_POINTS = frozenset(
    {
        "after_model_registration",  # registry row written, model artifact on disk; no scores by it yet
        "catalog_built",  # new catalog file complete beside the old one; lake not committed
        "catalog_committed",  # lake manifest committed; new catalog not yet renamed into place
    }
)


def crash_point(name: str) -> None:
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}; expected one of {sorted(CRASH_POINTS)}")
    if os.environ.get(CRASH_ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
