"""How long the remote handler takes to give up on an endpoint that is down.

The endpoint is a loopback port nobody listens on (connection refused at once), so the time is
what the retry policy, the deadline and the circuit breaker spend. Every row must end as a
failure record.

Usage::

    python -m benchmarks.remote_outage --rows 2000 --deadline-s 3
    python -m benchmarks.remote_outage --rows 100 --deadline-s 3 --beam
    python -m benchmarks.remote_outage --rows 2000 --deadline-s 3 --no-breaker
"""

from __future__ import annotations

import argparse
import logging
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import apache_beam as beam

import infergraph as ig


def dead_endpoint() -> str:
    """``http://127.0.0.1:<port>`` for a port that was just free (nobody listens on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def in_process(handler: Any, rows: int) -> int:
    results = list(ig.predict(handler, ((i, i) for i in range(rows))))
    assert [r.key for r in results] == list(range(rows))
    return sum(isinstance(r, ig.Failure) for r in results)


def on_beam(handler: Any, rows: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "failures"
        with beam.Pipeline(runner="DirectRunner") as pipeline:
            _, failures = (
                pipeline
                | beam.Impulse()
                | beam.FlatMap(lambda _: ((i, i) for i in range(rows)))
                | ig.RunInference(handler).with_exception_handling()
            )
            _ = (
                failures
                | beam.combiners.Count.Globally()
                | beam.Map(lambda n: out.write_text(str(n)))
            )
        return int(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--deadline-s", type=float, default=3.0)
    parser.add_argument("--beam", action="store_true", help="run on Beam's DirectRunner")
    parser.add_argument("--no-breaker", action="store_true", help="turn the circuit breaker off")
    args = parser.parse_args()
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    options: dict[str, Any] = {"deadline_s": args.deadline_s}
    if args.no_breaker:
        options["circuit_breaker"] = False
    handler = ig.handler(
        "remote", protocol="tf_serving", endpoint=dead_endpoint(), model="m", **options
    )
    start = time.perf_counter()
    failed = on_beam(handler, args.rows) if args.beam else in_process(handler, args.rows)
    elapsed = time.perf_counter() - start
    runner = "Beam DirectRunner" if args.beam else "in-process"
    print(
        f"{runner}: {args.rows} rows, deadline_s={args.deadline_s}, "
        f"breaker={'off' if args.no_breaker else 'on'}: {failed} failures in {elapsed:.1f}s"
    )
    assert failed == args.rows, f"expected {args.rows} failures, got {failed}"


if __name__ == "__main__":
    main()
