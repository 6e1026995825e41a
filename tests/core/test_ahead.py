"""One chunk ahead: order, overlap, errors and the switch that turns it off."""

from __future__ import annotations

import threading
import time

import pytest

from infergraph.core.ahead import Ahead, one_ahead, overlap_enabled


@pytest.mark.parametrize("threaded", [True, False])
def test_results_come_out_in_order(threaded: bool) -> None:
    ahead: Ahead[list[int], int] = Ahead(sum, threaded=threaded)
    got: list[int] = []
    for chunk in ([1], [2, 3], [4, 5, 6]):
        got += ahead.push(chunk)
    got += ahead.drain()
    ahead.close()
    assert got == [1, 5, 15]
    assert ahead.drain() == []


def test_a_chunk_runs_while_the_caller_reads_the_next() -> None:
    started, release = threading.Event(), threading.Event()

    def work(chunk: int) -> int:
        started.set()
        assert release.wait(5)  # would time out if push waited for the chunk it started
        return chunk * 10

    ahead: Ahead[int, int] = Ahead(work, threaded=True)
    assert ahead.push(1) == []  # returned while chunk 1 is still at work
    assert started.wait(5)
    release.set()
    assert ahead.push(2) == [10]
    assert ahead.drain() == [20]
    ahead.close()


def test_an_error_comes_out_with_its_chunk() -> None:
    def work(chunk: int) -> int:
        if chunk == 2:
            raise ValueError("chunk 2 is bad")
        return chunk

    results = one_ahead(work, iter([1, 2, 3]))
    assert next(results) == 1
    with pytest.raises(ValueError, match="chunk 2 is bad"):
        next(results)


def test_the_worker_thread_stops_when_the_caller_stops_early() -> None:
    before = threading.active_count()
    results = one_ahead(lambda chunk: chunk, iter(range(100)))
    assert next(results) == 0
    results.close()  # the generator's finally: the worker is joined
    assert threading.active_count() == before


def test_overlap_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERGRAPH_OVERLAP", "0")
    assert not overlap_enabled()
    names: list[str] = []
    ahead: Ahead[int, int] = Ahead(lambda c: names.append(threading.current_thread().name) or c)
    assert ahead.push(7) == [7]  # at once, in the caller's thread
    assert names == [threading.current_thread().name]
    ahead.close()


def test_what_was_read_before_the_source_failed_still_comes_out() -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise OSError("the source broke after two chunks")

    results = one_ahead(lambda chunk: chunk * 10, chunks())
    assert next(results) == 10
    assert next(results) == 20  # chunk 2 was at work when the source broke
    with pytest.raises(OSError, match="broke"):
        next(results)


def test_an_interrupted_caller_does_not_wait_for_the_chunk_at_work() -> None:
    release = threading.Event()

    def work(chunk: int) -> int:
        if chunk == 2:
            release.wait(30)  # a slow model call
        return chunk

    results = one_ahead(work, iter([1, 2, 3]))
    assert next(results) == 1  # chunk 2 is now at work
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)  # Ctrl-C while the caller handles chunk 1
    assert time.monotonic() - started < 5  # not the 30 s of chunk 2
    release.set()
