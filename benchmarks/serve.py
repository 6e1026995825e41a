"""``python -m benchmarks.serve``: `infergraph serve` under load, against KServe and raw ORT.

A closed-loop load generator that is not Python (``wrk``, Debian package ``wrk``) sends one-row
v2 JSON requests to servers on 127.0.0.1, at fixed concurrencies for a bounded time each. Two
models: the suite's MLP (32->256->256->8), where HTTP and JSON cost more than the model, and a
compute-bound MLP (32->2048->2048->8), where batching pays. Servers, each on the same ONNX file
with ONNX Runtime on one intra-op and one inter-op thread:

- ``infergraph``: ``infergraph serve`` (dynamic batching, default settings);
- ``infergraph-nobatch``: the same with ``serving.max_batch_size: 1``;
- ``kserve``: KServe's Python ``ModelServer`` with a custom ``kserve.Model`` running ONNX Runtime
  (serve_kserve_model.py, in the venv ``tests/peers/setup.sh`` builds; left out without it).

The raw runtime (``session.run`` on one row in a loop, and on 64 rows) is measured in the same
run, as the ceiling. The table gives rows/s and p50/p99 latency per concurrency, then the
targets. Everything shares the machine's cores, the load generator included.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
MODELS = {"mlp": (32, 256, 256, 8), "compute": (32, 2048, 2048, 8)}
CONCURRENCY = (1, 8, 32, 128, 512)
SPEC = """\
name: m
models:
  m: {{handler: onnx, path: {path}, intra_op_threads: 1, inter_op_threads: 1}}
nodes:
  - {{name: m, model: m}}
serving: {{max_batch_size: {batch}, reload_poll_s: null}}
"""


@dataclass(frozen=True)
class Point:
    """One server at one concurrency."""

    model: str
    server: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build(folder: Path) -> dict[str, Path]:
    """The two ONNX models."""
    from tests.onnx_models import mlp

    return {name: mlp(folder / f"{name}.onnx", sizes=sizes) for name, sizes in MODELS.items()}


def raw(path: Path, seconds: float = 2.0) -> dict[str, float]:
    """ONNX Runtime alone: rows/s on one row per call and on 64 rows per call."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rates = {}
    for rows in (1, 64):
        x = np.random.default_rng(0).standard_normal((rows, 32)).astype(np.float32)
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            session.run(None, {"x": x})
            calls += 1
        rates[f"rows{rows}"] = calls * rows / (time.perf_counter() - started)
    return rates


@contextmanager
def server(kind: str, model: Path, work: Path, peers: Path | None) -> Iterator[str]:
    """A server of ``kind`` on ``model``; yields its infer URL."""
    port = free_port()
    if kind == "kserve":
        assert peers is not None
        command = [
            str(peers / "kserve" / "bin" / "python"),
            str(HERE / "serve_kserve_model.py"),
            "--model_name",
            "m",
            "--model_path",
            str(model),
            "--http_port",
            str(port),
            "--enable_grpc",
            "false",
            "--workers",
            "1",
        ]
    else:
        spec = work / f"{kind}.yaml"
        batch = 1 if kind == "infergraph-nobatch" else 64
        spec.write_text(SPEC.format(path=model, batch=batch))
        command = [sys.executable, "-m", "infergraph.cli", "serve", str(spec), "--port", str(port)]
    log = (work / f"{kind}.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(process, f"{base}/v2/models/m/ready", work / f"{kind}.log")
        yield f"{base}/v2/models/m/infer"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _wait(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}: not ready in 120 s:\n{log.read_text()[-3000:]}")


def body() -> str:
    x = np.random.default_rng(1).standard_normal(32).round(4).tolist()
    return json.dumps({"inputs": [{"name": "x", "shape": [1, 32], "datatype": "FP32", "data": x}]})


def wrk(
    url: str, concurrency: int, seconds: float, script: Path
) -> tuple[float, float, float, int]:
    """rows/s, p50 and p99 in ms, and errors (non-2xx answers, socket errors) of one wrk run."""
    threads = str(min(2, concurrency))
    command = [
        "wrk",
        "-t",
        threads,
        "-c",
        str(concurrency),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", text).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return rps, p50, p99, errors


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def measure(args: argparse.Namespace, work: Path) -> tuple[list[Point], dict[str, Any]]:
    paths = build(work)
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body()}]]\n"
    )
    peers = Path(args.peers) if args.peers else None
    kinds = ["infergraph", "infergraph-nobatch"]
    if peers is not None and (peers / "kserve" / "bin" / "python").exists():
        kinds.append("kserve")
    points: list[Point] = []
    raws = {name: raw(path) for name, path in paths.items()}
    for name, path in paths.items():
        for kind in kinds:
            with server(kind, path, work, peers) as url:
                wrk(url, 8, 1.0, script)  # warm up
                for concurrency in args.concurrency:
                    rps, p50, p99, errors = wrk(url, concurrency, args.duration, script)
                    point = Point(name, kind, concurrency, rps, p50, p99, errors)
                    print(_row(point), file=sys.stderr, flush=True)
                    points.append(point)
    return points, raws


def _row(p: Point) -> str:
    return (
        f"| {p.model} | {p.server} | {p.concurrency} | {p.rps:,.0f} | {p.p50_ms:.2f} | "
        f"{p.p99_ms:.2f} | {p.errors} |"
    )


def targets(points: list[Point]) -> list[str]:
    """The issue's targets, judged from the points (skipped where a server is missing)."""
    at = {(p.model, p.server, p.concurrency): p for p in points}
    lines = []
    for model in MODELS:
        ig, kserve = at.get((model, "infergraph", 32)), at.get((model, "kserve", 32))
        if ig and kserve:
            ratio = ig.rps / kserve.rps
            met = ratio >= 3 and ig.p99_ms <= kserve.p99_ms
            lines.append(
                f"{'met' if met else 'not met'}: {model}, c=32, >= 3x KServe's rows/s with p99 no "
                f"worse: {ratio:.2f}x, p99 {ig.p99_ms:.1f} vs {kserve.p99_ms:.1f} ms"
            )
    on, off = at.get(("compute", "infergraph", 32)), at.get(("compute", "infergraph-nobatch", 32))
    if on and off:
        ratio = on.rps / off.rps
        met = ratio >= 3 and on.p99_ms < off.p99_ms
        lines.append(
            f"{'met' if met else 'not met'}: compute, c=32, batching >= 3x batching off with "
            f"lower p99: {ratio:.2f}x, p99 {on.p99_ms:.1f} vs {off.p99_ms:.1f} ms"
        )
    for model in MODELS:
        on, off = at.get((model, "infergraph", 1)), at.get((model, "infergraph-nobatch", 1))
        if on and off:
            added = on.p50_ms - off.p50_ms
            lines.append(
                f"{'met' if added <= 0.5 else 'not met'}: {model}, c=1, the batcher adds <= 0.5 "
                f"ms p50: {added:+.2f} ms ({on.p50_ms:.2f} vs {off.p50_ms:.2f})"
            )
        mine = [p for p in points if p.model == model and p.server == "infergraph"]
        top = at.get((model, "infergraph", 512))
        if mine and top:
            peak = max(p.rps for p in mine)
            met = top.errors == 0 and top.rps >= 0.8 * peak
            lines.append(
                f"{'met' if met else 'not met'}: {model}, c=512, no errors and within 20% of the "
                f"peak: {top.errors} errors, {top.rps:,.0f} vs peak {peak:,.0f} rows/s"
            )
    return lines


START, END = "<!-- serve:results -->", "<!-- /serve:results -->"
RESULTS = HERE / "results" / "serve.json"
PAGE = HERE.parent / "docs" / "performance.md"
NAMES = {"infergraph": "infergraph", "infergraph-nobatch": "infergraph, batching off"}


def section(results: dict[str, Any]) -> str:
    """The Markdown of a run: the table, the raw runtime's rates, the targets."""
    points = [Point(**p) for p in results["points"]]
    lines = [
        "| model | server | concurrency | rows/s | p50 ms | p99 ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [_row(Point(**{**asdict(p), "server": NAMES.get(p.server, p.server)})) for p in points]
    lines.append("")
    for name, rates in results["raw"].items():
        lines.append(
            f"ONNX Runtime alone, {name}: {rates['rows1']:,.0f} rows/s one row per call, "
            f"{rates['rows64']:,.0f} rows/s in calls of 64."
        )
    lines.append("")
    lines += [f"- **{line.replace(': ', '**: ', 1)}" for line in targets(points)]
    return "\n".join(lines)


def rewrite(text: str, results: dict[str, Any]) -> str:
    """``text`` with its serve section replaced by the one of ``results``."""
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{section(results)}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per point (5)")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=list(CONCURRENCY)
    )
    parser.add_argument("--peers", default=".peers", help="the venvs tests/peers/setup.sh built")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"keep the run in {RESULTS.relative_to(HERE.parent)} and rewrite "
        f"{PAGE.relative_to(HERE.parent)}'s serving section from it",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("benchmarks.serve needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        points, raws = measure(args, Path(folder))
    results = {"points": [asdict(p) for p in points], "raw": raws}
    print(section(results))
    if args.record:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        PAGE.write_text(rewrite(PAGE.read_text(), results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
