"""Downloads of the GDC client (gdc.client): GET /data/<file_id> streamed to a file or line by line, and
many small files in one POST /data archive, every file checked against its md5 and size.

A connection lost mid-body is resumed with a Range request from the first byte not yet delivered; a broken
archive stream is re-requested for the files not yet delivered. A file written to disk only ever appears
complete and verified.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests
import urllib3

from gdc.errors import GdcIntegrityError
from gdc.responses import ArchiveFile, DownloadResult
from gdc.transport import GdcTransport, Tally, raise_for_status

_DOWNLOAD_CHUNK_BYTES = 1 << 16
_LARGE_DOWNLOAD_BYTES = 1 << 20  # log rate only for downloads big enough for a rate to mean something


class GdcDownloads(GdcTransport):
    """The file downloads of `GdcClient`."""

    # -- downloads ------------------------------------------------------------------------------------

    def download(self, file_id: str, dest: Path, *, md5: str, size: int | None) -> DownloadResult:
        """Stream GET /data/<file_id> to a temp file beside `dest`, verify size and md5, then rename.

        `dest` only ever appears complete and verified; on any failure the temp file is removed and
        nothing exists at `dest` that was not there before.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
        tally = Tally()
        started = time.monotonic()
        digest = hashlib.md5()
        received = 0
        try:
            with open(tmp, "wb") as out:
                for chunk in self._stream_file(file_id, tally):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            _verify_file(file_id, received, digest.hexdigest(), md5=md5, size=size)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        elapsed = time.monotonic() - started
        if received >= _LARGE_DOWNLOAD_BYTES:
            self.log.info(
                f"data/{file_id}: {received} bytes in {elapsed:.2f} s, "
                f"{received / 1e6 / max(elapsed, 1e-9):.1f} MB/s, {tally.retries} retries"
            )
        return DownloadResult(
            path=dest, bytes=received, md5=digest.hexdigest(), retries=tally.retries, elapsed_seconds=elapsed
        )

    def fetch_file(self, file_id: str, *, md5: str, size: int | None) -> bytes:
        """The whole of GET /data/<file_id> in memory (for files of a few MB that are parsed whole), resumed with
        Range like every download and checked against md5 and size before it is returned."""
        digest = hashlib.md5()
        chunks: list[bytes] = []
        tally = Tally()
        for chunk in self._stream_file(file_id, tally):
            digest.update(chunk)
            chunks.append(chunk)
        content = b"".join(chunks)
        _verify_file(file_id, len(content), digest.hexdigest(), md5=md5, size=size)
        return content

    def iter_file_lines(self, file_id: str, *, md5: str, size: int | None) -> Iterator[bytes]:
        """Yield the lines of GET /data/<file_id> (without the line terminator) while streaming.

        Size and md5 are checked after the last line: GdcIntegrityError is raised then, so a consumer
        must read to the end for the check to happen (stopping early skips it).
        """
        digest = hashlib.md5()
        received = 0
        pending = b""
        started = time.monotonic()
        tally = Tally()
        for chunk in self._stream_file(file_id, tally):
            digest.update(chunk)
            received += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line[:-1] if line.endswith(b"\r") else line
        if pending:
            yield pending[:-1] if pending.endswith(b"\r") else pending
        _verify_file(file_id, received, digest.hexdigest(), md5=md5, size=size)
        elapsed = time.monotonic() - started
        if received >= _LARGE_DOWNLOAD_BYTES:
            self.log.info(
                f"data/{file_id}: streamed {received} bytes in {elapsed:.2f} s, "
                f"{received / 1e6 / max(elapsed, 1e-9):.1f} MB/s, {tally.retries} retries"
            )

    def iter_archive_files(self, files: Sequence[ArchiveFile]) -> Iterator[tuple[str, bytes]]:
        """Many small files in one request: POST /data {"ids": [...]} returns a tar.gz with members
        `<file_id>/<file_name>` (and MANIFEST.txt). Yields (file_id, content) per member as the archive
        streams by, each checked against its md5 and size. A broken stream is re-requested (bounded) for
        the files not yet delivered. One request per few hundred small files instead of one per file is
        what makes tens of thousands of methylation files practical (gdc-client batches the same way).
        """
        expected = {f.file_id: f for f in files}
        if len(expected) == 1:
            # GDC answers a single id with the bare file, not an archive.
            (only,) = expected.values()
            yield only.file_id, b"\n".join(self.iter_file_lines(only.file_id, md5=only.md5, size=only.size)) + b"\n"
            return
        remaining = dict(expected)
        tally = Tally()
        retry = self._retry.new()
        while remaining:
            what = f"POST /data ({len(remaining)} files)"
            response = self._send("POST", "data", {"ids": sorted(remaining)}, what=what, tally=tally)
            try:
                raise_for_status(response, what)
                try:
                    with tarfile.open(fileobj=response.raw, mode="r|*") as archive:
                        for member in archive:
                            file_id = member.name.split("/", 1)[0]
                            wanted = remaining.get(file_id)
                            if wanted is None or not member.isfile():
                                continue  # MANIFEST.txt, or a file already delivered before a re-request
                            extracted = archive.extractfile(member)
                            content = extracted.read() if extracted is not None else b""
                            self._bump(bytes_received=len(content))
                            _verify_file(
                                file_id,
                                len(content),
                                hashlib.md5(content).hexdigest(),
                                md5=wanted.md5,
                                size=wanted.size,
                            )
                            del remaining[file_id]
                            yield file_id, content
                except (
                    tarfile.TarError,
                    EOFError,
                    OSError,
                    urllib3.exceptions.HTTPError,
                    requests.exceptions.RequestException,
                ) as exc:
                    retry = self._body_retry(retry, what, f"archive stream broken: {type(exc).__name__}: {exc}", tally)
                    continue
            finally:
                response.close()
            if remaining:
                raise GdcIntegrityError(
                    f"{what}: the archive lacked {len(remaining)} requested file(s), e.g. {sorted(remaining)[:3]}"
                )

    def _stream_file(self, file_id: str, tally: Tally) -> Iterator[bytes]:
        """Chunks of GET /data/<file_id>, each byte exactly once, in order.

        A connection lost mid-body is resumed with a Range request from the first byte not yet delivered
        (or, if the server ignores Range and sends the whole file again, by skipping what was delivered).
        """
        if not file_id or "/" in file_id or "," in file_id:
            raise ValueError(f"file_id must be one GDC file UUID, got {file_id!r}")
        what = f"GET /data/{file_id}"
        delivered = 0
        retry = self._retry.new()
        while True:
            headers = {"Accept": "*/*"}
            if delivered:
                headers["Range"] = f"bytes={delivered}-"
            response = self._send("GET", f"data/{file_id}", None, what=what, tally=tally, headers=headers)
            try:
                raise_for_status(response, what)
                if response.status_code == 206 and not _range_starts_at(response, delivered):
                    raise GdcIntegrityError(
                        f"{what}: asked to resume at byte {delivered} but got Content-Range "
                        f"{response.headers.get('Content-Range')!r}"
                    )
                # A server that ignores Range resends the whole file: skip what the caller already has.
                skip = delivered if (delivered and response.status_code != 206) else 0
                try:
                    for chunk in response.iter_content(chunk_size=_DOWNLOAD_CHUNK_BYTES):
                        self._bump(bytes_received=len(chunk))
                        if skip:
                            cut = min(skip, len(chunk))
                            chunk, skip = chunk[cut:], skip - cut
                        if chunk:
                            delivered += len(chunk)
                            yield chunk
                    return
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                    retry = self._body_retry(retry, what, f"body broken after {delivered} bytes: {exc}", tally)
            finally:
                response.close()


# ---------------------------------------------------------------------------------------------------------
# Helpers (pure)


def _range_starts_at(response: requests.Response, offset: int) -> bool:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def _verify_file(file_id: str, received: int, actual_md5: str, *, md5: str, size: int | None) -> None:
    if size is not None and received != size:
        raise GdcIntegrityError(f"data/{file_id}: received {received} bytes, expected file_size {size}")
    if actual_md5 != md5.lower():
        raise GdcIntegrityError(f"data/{file_id}: md5 {actual_md5} differs from expected md5sum {md5}")
