"""``infergraph run`` from a Parquet file to Parquet files, as a user runs a spec.

The Parquet file (outside the timed part) holds a key column ``id`` (int64) and a column ``x``
of fixed-size lists of float32 (one row of the model's input each), in row groups of
:data:`ROW_GROUP` rows. The spec reads it with ``format: parquet`` (``key_field: id``,
``input_field: x``), runs the model on the DirectRunner and writes Parquet parts
(``results-<part>.parquet``); the rows written are counted from the parts' footers after the
clock stops. Each repeat calls the command's entry point in this process (Beam's start-up
included, Python's not).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from benchmarks.data import Rows
from benchmarks.models import model_path
from benchmarks.plan import Job

ROW_GROUP = 100_000


def spec(job: Job, data: Path, output: Path) -> dict[str, object]:
    """The graph spec: one model node, the Parquet input, a Parquet output, the DirectRunner."""
    batch = job.bench.batch
    return {
        "name": "bench_parquet",
        "models": {
            "mlp": {
                "handler": "onnx",
                "path": model_path(job.models_dir, job.model),
                "intra_op_threads": 1,
                "max_batch_size": batch,
                "min_batch_size": batch,
            }
        },
        "nodes": [{"name": "mlp", "model": "mlp"}],
        "inputs": [
            {"format": "parquet", "path": str(data), "key_field": "id", "input_field": "x"}
        ],
        "outputs": [{"format": "parquet", "path": str(output)}],
        "runner": {"name": "DirectRunner"},
    }


def write_parquet(rows: Rows, path: Path) -> Path:
    """``rows`` as a Parquet file with columns ``id`` and ``x`` (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    width = int(np.prod(rows.shape))
    schema = pa.schema([("id", pa.int64()), ("x", pa.list_(pa.float32(), width))])
    pending: list[np.ndarray] = []
    written = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for array in rows.arrays():
            pending.append(array.reshape(len(array), width))
            if sum(map(len, pending)) >= ROW_GROUP or written + sum(map(len, pending)) == rows.rows:
                values = np.concatenate(pending)
                ids = np.arange(written, written + len(values), dtype=np.int64)
                column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)
                writer.write_table(
                    pa.Table.from_arrays([pa.array(ids), column], schema=schema),
                    row_group_size=ROW_GROUP,
                )
                written += len(values)
                pending = []
    return path


def parquet_run(job: Job, rows: Rows) -> Callable[[], Callable[[], int]]:
    """Prepare the file and the spec; the run (``infergraph run``) returns a row counter.

    Raises:
        NotAvailable: ``infergraph run`` rejects the spec (no Parquet reader or writer yet).
    """
    from benchmarks.plan import NotAvailable
    from infergraph.cli.main import main as infergraph
    from infergraph.core.errors import InfergraphError
    from infergraph.graph.load import load_spec

    work = Path(job.work_dir) / f"{job.model}-parquet-{job.rows}"
    work.mkdir(parents=True, exist_ok=True)
    data, output = work / "input.parquet", work / "results"
    spec_path = work / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec(job, data, output), sort_keys=False))
    try:
        load_spec(spec_path)
    except InfergraphError as exc:
        first = str(exc).splitlines()[0].removeprefix(f"{spec_path}:")
        first = first.split(": ", 1)[-1] if first[:1].isdigit() else first
        raise NotAvailable(f"`infergraph run` rejects Parquet in and out: {first}") from exc
    write_parquet(rows, data)

    def run() -> Callable[[], int]:
        for old in work.glob(f"{output.name}-*.parquet"):
            old.unlink()  # the previous repeat's parts
        status = infergraph(["run", str(spec_path), "--no-progress", "--fail-on-failures"])
        if status != 0:
            raise RuntimeError(f"infergraph run {spec_path} exited with status {status}")
        return lambda: _rows_written(output)

    return run


def _rows_written(prefix: Path) -> int:
    import pyarrow.parquet as pq

    parts = sorted(prefix.parent.glob(f"{prefix.name}-*.parquet"))
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
