"""Key-value metadata a writer adds to a version's Parquet footer is read back from the file alone, beside the
content hash the lake always computes itself."""

from __future__ import annotations

import polars as pl
import pytest

from lake.integrity import CONTENT_HASH_KEY, content_hash
from lake.store import Lake
from lake.writes import write_parquet_atomic


class _Table:
    layer, name = "scores", "example"
    schema = {"release": pl.String(), "case_id": pl.String(), "value": pl.Float64()}


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"release": ["45.0", "45.0"], "case_id": ["a", "b"], "value": [0.25, 0.75]})


def test_extra_footer_metadata_is_written_and_read_back_with_the_content_hash(tmp_path):
    lake = Lake(tmp_path)
    written = lake.write_table(_Table, _frame(), "45.0", metadata={"glioma.example": '{"a": "b"}'})
    footer = Lake(tmp_path).footer_metadata(written.path)  # another Lake (another process): the file alone
    assert footer["glioma.example"] == '{"a": "b"}'
    assert footer[CONTENT_HASH_KEY] == content_hash(_frame()) == lake.content_hash("scores", "example", "45.0")
    plain = lake.write_table(_Table, _frame(), "46.0")
    assert "glioma.example" not in lake.footer_metadata(plain.path)


def test_a_caller_cannot_set_the_content_hash(tmp_path):
    with pytest.raises(ValueError, match=CONTENT_HASH_KEY):
        write_parquet_atomic(_frame(), tmp_path / "part.parquet", metadata={CONTENT_HASH_KEY: "forged"})
    assert not (tmp_path / "part.parquet").exists()
