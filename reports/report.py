"""The per-release HTML report (`<DATA_DIR>/reports/<release>/index.html`) and plot previews for Dagster.

`write_release_report` writes ONE self-contained HTML file: inline CSS, every plot embedded as a
base64 `data:image/png` URI (no external resource is loaded, so the file can be mailed or opened
offline), a summary table, each plot with its caption, and a link to the Great Expectations Data Docs
given relative to the report (`gx/index.html`), so the link survives moving the data directory. The
PNGs stay on disk beside it (`<reports_dir>/<name>.png`); a section whose image lives elsewhere is
copied there first.

`png_metadata_markdown` turns a PNG into a markdown image with a data URI, for
`dagster.MetadataValue.md`, so the plot shows in the asset's metadata in the UI.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from lake.files import write_bytes_atomic

REPORT_FILE = "index.html"
# Dagster stores metadata in its event log; keep one markdown preview under this size.
MAX_MARKDOWN_BYTES = 300_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ReportSection:
    """One plot of the report: its title, the PNG (from reports.plots), a caption, and optional
    (label, value) rows shown under it (e.g. ("log-rank p", "3.1e-40"))."""

    title: str
    image: Path
    caption: str = ""
    details: Sequence[tuple[str, str]] = ()


def publish_file(data: bytes, path: Path) -> Path:
    """Write atomically (readers never see half a file) and make it readable by all, like the GX Data
    Docs beside it (write_bytes_atomic's temporary file is created 0600)."""
    written = write_bytes_atomic(data, Path(path))
    os.chmod(written, 0o644)
    return written


def _png_bytes(path: Path) -> bytes:
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    return data


def png_data_uri(path: Path) -> str:
    """`data:image/png;base64,...` of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(_png_bytes(path)).decode("ascii")


def png_metadata_markdown(path: Path, *, alt: str | None = None) -> str:
    """A markdown image of the PNG as a data URI (for MetadataValue.md). A PNG too large to inline
    (over ~300 KB of markdown) gives a line naming the file instead."""
    path = Path(path)
    alt_text = (alt or path.stem).replace("[", "(").replace("]", ")")
    markdown = f"![{alt_text}]({png_data_uri(path)})"
    if len(markdown) > MAX_MARKDOWN_BYTES:
        return f"*{alt_text}: the plot is too large to show inline ({path.stat().st_size:,} bytes); see `{path}`*"
    return markdown


def _relative_href(target: Path, start: Path) -> str:
    """`target` relative to directory `start`, as a URL path (posix separators, percent-encoded)."""
    try:
        relative = os.path.relpath(Path(target).resolve(), Path(start).resolve())
    except ValueError:  # another drive (Windows): no relative path exists
        return Path(target).resolve().as_uri()
    return quote(Path(relative).as_posix())


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 960px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.25rem 0.8rem 0.25rem 0; border-bottom: 1px solid #eee; vertical-align: top; }
th { color: #555; font-weight: 600; }
figure { margin: 0.6rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92rem; margin-top: 0.3rem; }
nav ol { columns: 2; column-gap: 2.5rem; font-size: 0.92rem; }
nav li { break-inside: avoid; overflow-wrap: anywhere; }
.note { color: #777; font-size: 0.85rem; }
a { color: #0b5cad; }
"""


def write_release_report(
    release: str,
    reports_dir: Path,
    sections: list[ReportSection],
    *,
    gx_data_docs: Path | None,
    summary_rows: list[tuple[str, str]],
) -> Path:
    """Write `<reports_dir>/index.html` for one release and return its path.

    `gx_data_docs` is the Data Docs `index.html` (or the directory holding it), linked relative to the
    report; None says the release has none. A section image must exist and be a PNG; one outside
    `reports_dir` is copied there under its file name (two different images with one name: ValueError).
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    placed: dict[str, Path] = {}
    blocks: list[str] = []
    toc: list[str] = []
    taken: set[str] = set()
    for section in sections:
        source = Path(section.image)
        data = _png_bytes(source)  # FileNotFoundError / ValueError: a report never silently drops a plot
        local = reports_dir / source.name
        if source.name in placed and placed[source.name] != source.resolve():
            raise ValueError(f"two report images are named {source.name}: {placed[source.name]} and {source.resolve()}")
        placed[source.name] = source.resolve()
        if source.resolve() != local.resolve():
            publish_file(data, local)
        slug = _slug(section.title, taken)
        toc.append(f'<li><a href="#{slug}">{html.escape(section.title)}</a></li>')
        details = ""
        if section.details:
            rows = "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in section.details
            )
            details = f"<table>{rows}</table>"
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        blocks.append(
            f'<section id="{slug}">\n<h2>{html.escape(section.title)}</h2>\n<figure>\n'
            f'<img src="{uri}" alt="{html.escape(section.title, quote=True)}">\n'
            f"<figcaption>{html.escape(section.caption)} "
            f'<span class="note">(<a href="{quote(local.name)}">{html.escape(local.name)}</a>)</span></figcaption>\n'
            f"</figure>\n{details}\n</section>"
        )

    if gx_data_docs is None:
        gx_block = '<p class="note">No Great Expectations Data Docs were written for this release.</p>'
    else:
        gx_index = Path(gx_data_docs)
        if gx_index.is_dir() or gx_index.suffix.lower() != ".html":
            gx_index = gx_index / "index.html"
        missing = "" if gx_index.exists() else ' <span class="note">(not found when this report was written)</span>'
        gx_block = (
            f'<p><a href="{_relative_href(gx_index, reports_dir)}">Great Expectations Data Docs</a>: '
            f"validation results of every raw and harmonised table of this release.{missing}</p>"
        )

    summary = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary_rows)
    title = f"Glioma lakehouse: GDC release {html.escape(release)}"
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{title}</h1>
<p class="subtitle">TCGA-GBM / TCGA-LGG: grading and survival report of one data release</p>
<h2 id="summary">Summary</h2>
<table>{summary}</table>
<h2 id="data-quality">Data quality</h2>
{gx_block}
<h2 id="plots">Plots</h2>
<nav><ol>{"".join(toc)}</ol></nav>
{chr(10).join(blocks)}
</body>
</html>
"""
    return publish_file(document.encode("utf-8"), reports_dir / REPORT_FILE)
