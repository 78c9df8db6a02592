"""Serialised search hits kept between requests, compressed and bounded in bytes.

Documents are not kept in memory (bundle.py), so a hit costs a read, a parse, a projection and a
serialisation. The hits of one search (release, query, field selection) are therefore kept in served
order, in chunks of `CHUNK_HITS` consecutive hits, each chunk's comma-joined JSON zlib-compressed (~6x:
the raw ingest's searches of a 100k-case release are ~220 MB here instead of ~1.3 GB of text).
Re-reading a page is then a few decompressions and slices. A chunk is rendered and stored when a page
covers it entirely; a small page (size 10) renders just its own hits instead of a whole chunk.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

# Page sizes clients use (1000, 5000) are multiples, so their pages cover whole chunks.
CHUNK_HITS = 250
_ENTRY_OVERHEAD = 400  # bytes per stored chunk beyond its data: dict entry, key tuple, objects

Render = Callable[[Sequence[int]], list[bytes]]
_Key = tuple[Hashable, Hashable, int]  # (owner, query, chunk index)


@dataclass(frozen=True)
class _Chunk:
    data: bytes  # zlib of the chunk's hits joined by ","
    starts: np.ndarray  # offset of each hit in the joined text, plus len(text) + 1 at the end

    @classmethod
    def of(cls, fragments: list[bytes]) -> tuple[_Chunk, bytes]:
        text = b",".join(fragments)
        starts = np.zeros(len(fragments) + 1, dtype=np.int64)
        np.cumsum([len(f) + 1 for f in fragments], out=starts[1:])
        return cls(zlib.compress(text, 1), starts), text

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.starts.nbytes + _ENTRY_OVERHEAD

    def hits(self, first: int, stop: int, text: bytes | None = None) -> bytes:
        """Hits `first` to `stop - 1` of the chunk, comma-joined (`text`: the chunk's, if at hand)."""
        if text is None:
            text = zlib.decompress(self.data)
        return text[int(self.starts[first]) : int(self.starts[stop]) - 1]


class HitCache:
    """LRU of compressed hit chunks, keyed by (owner, query, chunk index), at most `max_bytes` in total."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._lock = threading.Lock()
        self._chunks: OrderedDict[_Key, _Chunk] = OrderedDict()

    def page(
        self, owner: Hashable, query: Hashable, rows: Sequence[int], offset: int, count: int, render: Render
    ) -> bytes:
        """The comma-joined JSON of hits `rows[offset:offset + count]`; `render(rows)` serialises hits.

        `rows` must be the same sequence for every call with the same (owner, query).
        """
        pieces: list[bytes] = []
        position, end = offset, min(offset + count, len(rows))
        while position < end:
            index = position // CHUNK_HITS
            chunk_start = index * CHUNK_HITS
            chunk_end = min(chunk_start + CHUNK_HITS, len(rows))
            stop = min(end, chunk_end)
            key = (owner, query, index)
            chunk = self._get(key)
            if chunk is not None:
                pieces.append(chunk.hits(position - chunk_start, stop - chunk_start))
            elif position == chunk_start and stop == chunk_end and self.max_bytes > 0:
                chunk, text = _Chunk.of(render(rows[chunk_start:chunk_end]))
                self._put(key, chunk)
                pieces.append(text)
            else:
                pieces.append(b",".join(render(rows[position:stop])))
            position = stop
        return b",".join(pieces)

    def forget(self, owner: Hashable) -> None:
        """Drop every chunk of `owner` (an evicted release)."""
        with self._lock:
            for key in [k for k in self._chunks if k[0] == owner]:
                self.nbytes -= self._chunks.pop(key).nbytes

    def __len__(self) -> int:
        return len(self._chunks)

    def _get(self, key: _Key) -> _Chunk | None:
        with self._lock:
            chunk = self._chunks.get(key)
            if chunk is not None:
                self._chunks.move_to_end(key)
            return chunk

    def _put(self, key: _Key, chunk: _Chunk) -> None:
        if chunk.nbytes > self.max_bytes:
            return
        with self._lock:
            previous = self._chunks.pop(key, None)  # two requests may render the same chunk
            if previous is not None:
                self.nbytes -= previous.nbytes
            self._chunks[key] = chunk
            self.nbytes += chunk.nbytes
            while self.nbytes > self.max_bytes:
                self.nbytes -= self._chunks.popitem(last=False)[1].nbytes
