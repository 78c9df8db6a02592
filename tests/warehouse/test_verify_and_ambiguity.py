"""Corruption is detected and named: a truncated or bit-flipped committed file is reported by `glioma verify` with
its path, table and release, a read of it raises an error naming them, and an older release's damaged partition
does not block comparisons with the past. And a barcode that names two cases is said to be ambiguous."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from contracts.tables import HARMONISED_PATIENTS
from lake.integrity import LakeCorruptionError
from lake.store import Lake
from warehouse.catalog import publish_catalog
from warehouse.cli import main

pytestmark = pytest.mark.slow


def _glioma(catalog: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--catalog", str(catalog), *argv], stdout=out, stderr=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def _committed(data_dir: Path, release: str) -> Path:
    return Path(Lake(data_dir).committed_path("harmonised", "patients", release))


def test_a_clean_lake_verifies(two_release_catalog_copy):
    data_dir, _, _ = two_release_catalog_copy
    code, out, _ = _glioma(data_dir / "warehouse.duckdb", "verify")
    assert code == 0, out
    assert "0 damaged, 0 missing" in out


def test_a_truncated_older_file_is_named_and_does_not_block_the_comparison_with_the_past(two_release_catalog_copy):
    data_dir, first, second = two_release_catalog_copy
    path = _committed(data_dir, first)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    code, out, _ = _glioma(data_dir / "warehouse.duckdb", "verify")
    assert code == 1
    assert f"DAMAGED harmonised/patients release {first}: {path}" in out and "1 damaged" in out
    lake = Lake(data_dir)
    with pytest.raises(LakeCorruptionError) as raised:
        lake.read("harmonised", "patients", first)
    assert str(path) in str(raised.value) and f"harmonised/patients release {first}" in str(raised.value)
    with pytest.raises(LakeCorruptionError):
        lake.scan("harmonised", "patients", first)
    # The next release's comparison with the past skips the damaged partition instead of failing forever.
    assert lake.previous_release("harmonised", "patients", "47.0") == second
    assert lake.previous_release("harmonised", "patients", second) is None


def _column_data_spans(path: Path) -> list[tuple[int, int]]:
    """(start, length) of every column chunk's pages in the file, largest first."""
    metadata = pq.read_metadata(path)
    spans = []
    for group in range(metadata.num_row_groups):
        for column in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(column)
            start = chunk.dictionary_page_offset or chunk.data_page_offset
            spans.append((start, chunk.total_compressed_size))
    return sorted(spans, key=lambda span: -span[1])


@pytest.mark.parametrize("column_rank", range(4))
def test_flipped_bytes_inside_a_committed_files_data_are_detected_on_read(two_release_catalog_copy, column_rank):
    data_dir, _, second = two_release_catalog_copy
    path = _committed(data_dir, second)
    start, length = _column_data_spans(path)[column_rank]
    middle = start + length // 2
    data = bytearray(path.read_bytes())
    flipped = slice(middle, min(middle + 64, start + length))
    data[flipped] = bytes(b ^ 0xFF for b in data[flipped])
    path.write_bytes(bytes(data))
    with pytest.raises(LakeCorruptionError, match=str(path)):
        Lake(data_dir).read("harmonised", "patients", second)
    code, out, _ = _glioma(data_dir / "warehouse.duckdb", "verify")
    assert code == 1 and str(path) in out


def test_a_barcode_naming_two_cases_is_ambiguous_in_the_cli(two_release_catalog_copy):
    data_dir, _, second = two_release_catalog_copy
    lake = Lake(data_dir)
    patients = lake.read_table(HARMONISED_PATIENTS, second)
    twin = patients.head(1).with_columns(pl.lit(str(uuid.uuid4())).alias("case_id"))
    lake.write_table(HARMONISED_PATIENTS, pl.concat([patients, twin]), second)
    publish_catalog(lake, data_dir / "warehouse.duckdb", registry_path=data_dir / "model_registry.duckdb")
    barcode = twin["submitter_id"][0]
    code, _, err = _glioma(data_dir / "warehouse.duckdb", "patient", barcode)
    assert code == 2
    assert f"barcode {barcode} is ambiguous" in err and twin["case_id"][0] in err


def test_the_next_publish_withholds_a_release_whose_committed_file_is_damaged(two_release_catalog_copy):
    data_dir, first, second = two_release_catalog_copy
    path = _committed(data_dir, first)
    path.write_bytes(path.read_bytes()[:100])
    published = publish_catalog(
        Lake(data_dir), data_dir / "warehouse.duckdb", registry_path=data_dir / "model_registry.duckdb"
    )
    assert published.releases == [second]
    assert "harmonised/patients" in published.withheld_releases[first]
    code, out, err = _glioma(data_dir / "warehouse.duckdb", "sql", "--csv", "select count(*) from harmonised.patients")
    assert code == 0, err
