"""Keyed, vectorised randomness: the same (seed, stream, case) always gives the same value.

A case's ids and cosmetic choices must not move when other cases are added or removed (later
releases), and millions of them are needed, so they come from a splitmix64 hash of
(seed, stream, index, sub) computed with numpy instead of per-id Python calls.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 arithmetic wraps modulo 2**64, as intended)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _stream_constant(seed: int, stream: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha1(f"{seed}:{stream}".encode()).digest()[:8], "little"))


def keyed_u64(seed: int, stream: str, index: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
    with np.errstate(over="ignore"):
        base = _stream_constant(seed, stream) ^ (np.asarray(index, dtype=np.uint64) * _GOLDEN)
        base = _mix(base) ^ (np.asarray(sub, dtype=np.uint64) * _M2)
        return _mix(base + _GOLDEN)


def keyed_uniform(seed: int, stream: str, index: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
    """Uniform [0, 1) per (index, sub)."""
    return (keyed_u64(seed, stream, index, sub) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def keyed_uuids(seed: int, stream: str, index: np.ndarray, sub: np.ndarray | int = 0) -> list[str]:
    """UUID strings (RFC 4122 layout, version nibble 5: name-derived, here from a keyed hash)."""
    index = np.asarray(index)
    with np.errstate(over="ignore"):
        high = keyed_u64(seed, stream, index, sub)
        low = _mix(high ^ _stream_constant(seed, stream + "/low"))
    raw = np.empty((index.shape[0], 16), dtype=np.uint8)
    raw[:, :8] = high.astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, 8:] = low.astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((index.shape[0], 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((index.shape[0], 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = hexed[:, 0:8], hexed[:, 8:12], hexed[:, 12:16]
    out[:, 19:23], out[:, 24:36] = hexed[:, 16:20], hexed[:, 20:32]
    return out.view("S36").ravel().astype("U36").tolist()
