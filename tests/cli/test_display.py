from __future__ import annotations

import gzip
import io
import time
from pathlib import Path

import pytest

from infergraph.beam.run_files import Counter
from infergraph.cli.display import count_records, progress
from infergraph.io.columnar import BlockSource
from infergraph.io.sources import Source


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_rows_per_second_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    counter = Counter()
    with progress(counter, total=1000, enabled=True, every_s=0.01):
        for _ in range(10):
            counter.add(50)
            time.sleep(0.02)
    text = screen.getvalue()
    assert "rows/s" in text and "/1000" in text


def test_no_progress_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("sys.stderr", screen)
    with progress(Counter(), total=10, enabled=True):
        pass
    assert screen.getvalue() == ""


def test_records_are_counted_in_gzip_files_too(tmp_path: Path) -> None:
    lines = b'{"id": "a"}\n\n{"id": "b"}\n{"id": "c"}\n'
    (tmp_path / "in.jsonl").write_bytes(lines)
    with gzip.open(tmp_path / "in.jsonl.gz", "wb") as stream:
        stream.write(lines)
    with gzip.open(tmp_path / "in.csv.gz", "wb") as stream:
        stream.write(b"id,x\na,1\nb,2\n")
    inputs = [
        (Source("jsonl"), str(tmp_path / "in.jsonl*")),
        (Source("csv"), str(tmp_path / "*.csv.gz")),
    ]
    assert count_records(inputs) == 3 + 3 + 2


def test_files_that_cannot_be_counted_give_an_unknown_total(tmp_path: Path) -> None:
    import numpy as np

    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    np.save(tmp_path / "zero.npy", np.float32(3))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None]), allow_pickle=True)
    np.savez(tmp_path / "unequal.npz", key=np.array(["a"]), x=np.zeros(3))
    np.save(tmp_path / "good.npy", np.zeros((4, 2)))
    assert count_records([(BlockSource("numpy"), str(tmp_path / "good.npy"))]) == 4
    for name, kind in [
        ("bad.parquet", "parquet"),
        ("bad.npy", "numpy"),
        ("zero.npy", "numpy"),
        ("objects.npy", "numpy"),
        ("unequal.npz", "numpy"),
    ]:
        assert count_records([(BlockSource(kind), str(tmp_path / name))]) is None, name  # type: ignore[arg-type]
