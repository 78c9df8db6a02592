"""Fault injection for the stand-in: the failure modes clients of the live GDC API have met."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = frozenset(
    {
        "http_429",
        "http_500",
        "http_502",
        "http_503",
        "http_504_html",
        "latency",
        "truncated_json",
        "drop_connection",
        "unsorted_paging",
        "release_switch",
    }
)
# Kinds that replace the answer with an error status.
ERROR_STATUS = {"http_429": 429, "http_500": 500, "http_502": 502, "http_503": 503, "http_504_html": 504}


@dataclass
class Fault:
    kind: str
    endpoint: str | None
    times: int | None
    after: int
    params: dict[str, Any]
    seen: int = 0
    fired: int = 0

    def matches(self, path: str) -> bool:
        return self.endpoint is None or path.startswith(self.endpoint)

    def take(self) -> bool:
        """Count one matching request; True when this one gets the fault."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "times": self.times,
            "after": self.after,
            "params": self.params,
            "seen": self.seen,
            "fired": self.fired,
        }


@dataclass
class ActiveFaults:
    """The faults that hit one request."""

    faults: list[Fault] = field(default_factory=list)

    def first(self, *kinds: str) -> Fault | None:
        return next((f for f in self.faults if f.kind in kinds), None)


def normalise_endpoint(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    path = "/" + endpoint.strip().lstrip("/")
    if path == "/v0" or path.startswith("/v0/"):
        path = path[3:] or "/"
    return path


class FaultInjector:
    """Thread-safe list of configured faults; `inject` them per test, `clear` them afterwards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self, kind: str, endpoint: str | None = None, times: int | None = 1, after: int = 0, **params: Any
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times is not None and (not isinstance(times, int) or times < 0):
            raise ValueError(f"fault times must be a non-negative int or None, got {times!r}")
        if not isinstance(after, int) or after < 0:
            raise ValueError(f"fault after must be a non-negative int, got {after!r}")
        if kind == "latency" and not isinstance(params.get("seconds"), (int, float)):
            raise ValueError("latency fault needs seconds=<number>")
        if kind == "release_switch" and not isinstance(params.get("to_release"), str):
            raise ValueError("release_switch fault needs to_release=<label>")
        if kind == "http_429":
            params.setdefault("retry_after", None)
        fault = Fault(kind, normalise_endpoint(endpoint), times, after, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def for_request(self, path: str) -> ActiveFaults:
        """Count this request against every matching fault; return the ones that fire for it."""
        active = ActiveFaults()
        with self._lock:
            for fault in self._faults:
                if fault.matches(path) and fault.take():
                    active.faults.append(fault)
        return active
