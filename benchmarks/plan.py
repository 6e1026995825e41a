"""What the suite runs: the models, their variants, and the rows each variant runs on.

A *job* is one variant of one model on a number of rows; ``python -m benchmarks.variant`` runs
one job in a fresh process. Per-row variants run on fewer rows than block variants (they are
10 to 100 times slower); the block variants run on two row counts, to check that their memory
stays flat as the rows grow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.data import Rows

K = 1_000
M = 1_000_000


class NotAvailable(Exception):
    """A variant cannot run here; the message says why and what would make it run."""


@dataclass(frozen=True)
class Bench:
    """A model and how it is fed.

    Attributes:
        model: Its id in the records (``mlp``, ``conv``, ``chain``, ``tf``, ``remote``).
        title: How the table names it.
        family: The module of ``benchmarks`` that implements its variants.
        shape: One row's shape.
        batch: Rows per model call, for every variant.
        block_rows: Rows per chunk (one block, or one ``FlatMap`` call on Beam).
        feed: How it is fed, in words (for the docs).
    """

    model: str
    title: str
    family: str
    shape: tuple[int, ...]
    batch: int
    block_rows: int
    feed: str = ""

    def __post_init__(self) -> None:
        if not self.feed:
            text = f"batches of {self.batch:,} rows, chunks (blocks) of {self.block_rows:,} rows"
            object.__setattr__(self, "feed", text)

    def rows(self, count: int) -> Rows:
        """``count`` rows of this model's input."""
        return Rows(self.shape, count, self.block_rows)


BENCHES = {
    b.model: b
    for b in (
        Bench("mlp", "MLP 32→256→256→8 (ONNX)", "onnx_variants", (32,), 1024, 10_000),
        Bench("chain", "MLP → MLP 8→64→8, a graph (ONNX)", "chain_variants", (32,), 1024, 10_000),
        Bench("conv", "Conv 3x32x32 → 10 (ONNX)", "onnx_variants", (3, 32, 32), 256, 1_000),
        Bench("tf", "MLP 32→256→256→8 (TensorFlow)", "tf_variants", (32,), 1024, 10_000),
        Bench(
            "remote", "remote endpoint, 50 ms per request", "remote_variants", (1,), 32, 32,
            "32 instances per request (batches of 32 x concurrency), 50 ms added per request",
        ),
    )
}


@dataclass(frozen=True)
class Job:
    """One variant of one model on ``rows`` rows, timed ``repeats`` times."""

    model: str
    variant: str
    rows: int
    repeats: int
    models_dir: str
    work_dir: str

    @property
    def bench(self) -> Bench:
        """The model's settings."""
        return BENCHES[self.model]


@dataclass(frozen=True)
class Planned:
    """A variant and its row counts in a full and in a quick run."""

    model: str
    variant: str
    label: str
    full: tuple[int, ...]
    quick: tuple[int, ...]
    processes: int = 1


# Row counts (full, quick) are multiples of each model's block_rows.
PLAN = (
    # mlp
    Planned("mlp", "raw", "raw onnxruntime, batches of 1024", (2 * M,), (200 * K,)),
    Planned(
        "mlp", "beam", "Beam RunInference (OnnxModelHandlerNumpy), per row", (200 * K,), (20 * K,)
    ),
    Planned("mlp", "ig-rows", "infergraph in-process, per row", (200 * K,), (20 * K,)),
    Planned(
        "mlp",
        "ig-blocks",
        "infergraph in-process, blocks of 10,000",
        (200 * K, 2 * M),
        (20 * K, 200 * K),
    ),
    Planned("mlp", "ig-beam-rows", "infergraph on Beam, per row", (200 * K,), (20 * K,)),
    Planned(
        "mlp",
        "ig-beam-blocks",
        "infergraph on Beam, blocks of 10,000",
        (200 * K, 2 * M),
        (20 * K, 200 * K),
    ),
    Planned(
        "mlp",
        "ig-beam-blocks-2p",
        "infergraph on Beam, blocks, 2 worker processes",
        (200 * K, 2 * M),
        (200 * K,),
        processes=2,
    ),
    Planned(
        "mlp",
        "ig-run-parquet",
        "`infergraph run`, Parquet file to Parquet files",
        (2 * M,),
        (200 * K,),
    ),
    # chain
    Planned("chain", "raw", "raw onnxruntime, A then B by hand", (2 * M,), (200 * K,)),
    Planned("chain", "beam", "Beam RunInference A, then B, per row", (200 * K,), (20 * K,)),
    Planned(
        "chain", "ig-rows", "infergraph graph A → B in-process, per row", (200 * K,), (20 * K,)
    ),
    Planned(
        "chain",
        "ig-blocks",
        "infergraph graph A → B in-process, blocks",
        (200 * K, 2 * M),
        (20 * K, 200 * K),
    ),
    Planned(
        "chain",
        "ig-beam-rows",
        "infergraph RunGraph(A → B) on Beam, per row",
        (200 * K,),
        (20 * K,),
    ),
    Planned(
        "chain",
        "ig-beam-blocks",
        "infergraph RunGraph(A → B) on Beam, blocks",
        (200 * K, 2 * M),
        (20 * K, 200 * K),
    ),
    # conv
    Planned("conv", "raw", "raw onnxruntime, batches of 256", (200 * K,), (5 * K,)),
    Planned(
        "conv", "beam", "Beam RunInference (OnnxModelHandlerNumpy), per row", (50 * K,), (2 * K,)
    ),
    Planned("conv", "ig-rows", "infergraph in-process, per row", (50 * K,), (2 * K,)),
    Planned("conv", "ig-blocks", "infergraph in-process, blocks of 1,000", (200 * K,), (5 * K,)),
    Planned("conv", "ig-beam-rows", "infergraph on Beam, per row", (50 * K,), (2 * K,)),
    Planned("conv", "ig-beam-blocks", "infergraph on Beam, blocks of 1,000", (200 * K,), (5 * K,)),
    # tf
    Planned(
        "tf", "raw", "raw serving_default signature call, batches of 1024", (2 * M,), (200 * K,)
    ),
    Planned(
        "tf",
        "beam",
        "Beam RunInference (TFModelHandlerTensor), per row",
        (50 * K, 200 * K),
        (10 * K,),
    ),
    Planned("tf", "ig-rows", "infergraph in-process, per row", (200 * K,), (20 * K,)),
    Planned("tf", "ig-blocks", "infergraph in-process, blocks of 10,000", (2 * M,), (200 * K,)),
    Planned("tf", "ig-beam-rows", "infergraph on Beam, per row", (50 * K, 200 * K), (10 * K,)),
    Planned("tf", "ig-beam-blocks", "infergraph on Beam, blocks of 10,000", (2 * M,), (200 * K,)),
    # remote
    Planned(
        "remote", "beam", "Beam RunInference (RemoteModelHandler), concurrency 1", (8 * K,), (640,)
    ),
    Planned("remote", "ig-rows-c1", "infergraph in-process, concurrency 1", (8 * K,), (640,)),
    Planned("remote", "ig-rows", "infergraph in-process, concurrency 8", (8 * K,), (2_560,)),
    Planned("remote", "ig-beam-rows", "infergraph on Beam, concurrency 8", (8 * K,), (2_560,)),
)

BASELINES = ("raw", "beam")
"""Variant ids every other variant of a model is compared with: ``vs_raw``, ``vs_beam``."""


def jobs(
    *, quick: bool, repeats: int, models_dir: str, work_dir: str,
    keep: Callable[[str, str], bool] = lambda model, variant: True,
) -> list[Job]:
    """Every job of a full (or quick) run that ``keep(model, variant)`` accepts, in order."""
    found = []
    for planned in PLAN:
        if not keep(planned.model, planned.variant):
            continue
        for rows in planned.quick if quick else planned.full:
            found.append(
                Job(planned.model, planned.variant, rows, repeats, models_dir, work_dir)
            )
    return found
