from __future__ import annotations

import io
import time

import pytest

from infergraph.beam.run_files import Counter
from infergraph.cli.display import progress


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
