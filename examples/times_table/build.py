"""Build the times-table example's models and data from scratch, in seconds on a CPU.

Two Keras 3 models, ``y = 5x`` and ``y = 10x`` (one ``Dense(1)`` each), are trained on generated,
noise-free data and exported the way TFX serves models, with an ONNX twin of each::

    models/times_5/        SavedModel. serving_default(examples: string [None]) -> {"y": float32
                           [None, 1]}, each example a serialized tf.train.Example with a float
                           feature "x" of length 1; predict_x(x: float32 [None, 1]) -> the same
    models/times_5.onnx    its ONNX twin (x float [None, 1] -> y float [None, 1]; MatMul + Add;
                           the trained weights; IR 8, opset 17)
    models/times_10/, models/times_10.onnx
    data/inputs.tfrecord   the four questions as tf.train.Example: "key" (bytes), "x" (float)
    data/inputs.csv        header "key,x", one row per question
    data/inputs.jsonl      {"key": "first_question", "x": [105.0]} per line
    build.json             manifest: build version, training recipe, library versions, and the
                           trained w and b and answers of each model

The build checks what it made: each model must have converged (w within 0.01 % of its factor,
|b| <= 0.001) and its SavedModel (both signatures) and ONNX twin must answer the four questions
within 1 %, the twin matching the SavedModel to float32 precision. A second build finds
``build.json`` and skips what is already built by the same build version and recipe;
``--force`` rebuilds everything. Usage::

    python examples/times_table/build.py [--out DIR] [--force]

Training seeds Python, NumPy and TensorFlow and turns on TensorFlow's op determinism (for the
whole process), so the same machine and versions give the same weights on every build.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__:
    from .models import BuildError, Recipe, example_bytes, make_model
else:  # run as a script: python examples/times_table/build.py
    from models import BuildError, Recipe, example_bytes, make_model

BUILD_VERSION = 1
"""Bump when the build's output changes in a way the recipe does not show: rebuilds all."""

DEFAULT_OUT = Path(__file__).resolve().parent / "work"
MANIFEST = "build.json"
FACTORS: dict[str, float] = {"times_5": 5.0, "times_10": 10.0}
QUESTIONS: dict[str, float] = {
    "first_question": 105.0,
    "second_question": 108.0,
    "third_question": 1000.0,
    "fourth_question": 1013.0,
}
DATA_FILES = ("data/inputs.tfrecord", "data/inputs.csv", "data/inputs.jsonl")

log = logging.getLogger("times_table.build")


@dataclass(frozen=True)
class Plan:
    """What a build has to do.

    Attributes:
        models: Names of the models to (re)build, in build order.
        data: Whether the input files are (re)written.
        keep_manifest: Whether the existing manifest is current and its entries are kept.
    """

    models: tuple[str, ...]
    data: bool
    keep_manifest: bool


@dataclass(frozen=True)
class Built:
    """What a build left behind.

    Attributes:
        out: The output folder.
        manifest: The manifest as written to ``build.json``.
        built: What this build made: model names and ``"data"``; empty when all was up to date.
        seconds: Wall time of the build.
    """

    out: Path
    manifest: dict[str, Any]
    built: tuple[str, ...]
    seconds: float


def plan(out: Path, manifest: Mapping[str, Any] | None, *, force: bool, recipe: Recipe) -> Plan:
    """Decide what to build from the manifest and the files in ``out``.

    A model is skipped when the manifest was written by this build version with this recipe,
    records the model, and its SavedModel and ONNX files exist; the data likewise.
    """
    current = (
        not force
        and manifest is not None
        and manifest.get("build_version") == BUILD_VERSION
        and manifest.get("recipe") == asdict(recipe)
    )
    if not current or manifest is None:
        return Plan(tuple(FACTORS), True, False)
    models = tuple(name for name in FACTORS if not _model_present(out, manifest, name))
    data = manifest.get("data", {}).get("questions") != QUESTIONS or not all(
        (out / name).is_file() for name in DATA_FILES
    )
    return Plan(models, data, True)


def _model_present(out: Path, manifest: Mapping[str, Any], name: str) -> bool:
    entry = manifest.get("models", {}).get(name)
    return (
        isinstance(entry, Mapping)
        and entry.get("factor") == FACTORS[name]
        and (out / "models" / name / "saved_model.pb").is_file()
        and (out / "models" / f"{name}.onnx").is_file()
    )


def build(out: Path = DEFAULT_OUT, *, force: bool = False, recipe: Recipe | None = None) -> Built:
    """Build what is missing or stale under ``out`` (everything with ``force``).

    Args:
        out: The output folder; created if needed.
        force: Rebuild everything whatever the manifest says.
        recipe: The training recipe; :class:`Recipe` defaults if ``None``.

    Returns:
        What was built, and the manifest.

    Raises:
        BuildError: a library is missing, a model did not converge, or an export gave wrong
            answers; the message names the model and the fix.
    """
    start = time.perf_counter()
    recipe = recipe or Recipe()
    out = Path(out)
    old = read_manifest(out)
    todo = plan(out, old, force=force, recipe=recipe)
    manifest: dict[str, Any] = (
        dict(old)
        if todo.keep_manifest and old is not None
        else {"build_version": BUILD_VERSION, "recipe": asdict(recipe), "models": {}}
    )
    if todo.models or todo.data:
        tf, keras = _import_tensorflow()
        out.mkdir(parents=True, exist_ok=True)
        models = manifest.setdefault("models", {})
        for name in todo.models:
            # Forget the old entry first: an interrupted build then rebuilds this model.
            models.pop(name, None)
            write_manifest(out, manifest)
            models[name] = make_model(
                tf,
                keras,
                out / "models",
                name,
                factor=FACTORS[name],
                recipe=recipe,
                questions=QUESTIONS,
            )
            models[name]["versions"] = _versions(tf, keras)
            write_manifest(out, manifest)
        if todo.data:
            manifest["data"] = write_inputs(tf, out / "data")
            write_manifest(out, manifest)
    built = todo.models + (("data",) if todo.data else ())
    return Built(out, manifest, built, time.perf_counter() - start)


# -- data and manifest -------------------------------------------------------------------------


def write_inputs(tf: Any, folder: Path) -> dict[str, Any]:
    """Write the four keyed questions as TFRecord, CSV and JSONL; the manifest's data entry."""
    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "inputs.tfrecord")) as writer:
        for key, x in QUESTIONS.items():
            writer.write(example_bytes(tf, x, key=key))
    with open(folder / "inputs.csv", "w", newline="", encoding="utf-8") as stream:
        rows = csv.writer(stream, lineterminator="\n")
        rows.writerow(["key", "x"])
        rows.writerows([key, repr(x)] for key, x in QUESTIONS.items())
    (folder / "inputs.jsonl").write_text(
        "".join(json.dumps({"key": key, "x": [x]}) + "\n" for key, x in QUESTIONS.items()),
        encoding="utf-8",
    )
    log.info("data: wrote %d questions to %s", len(QUESTIONS), folder)
    return {"questions": dict(QUESTIONS), "files": list(DATA_FILES)}


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest in ``out``, or ``None`` when there is none or it cannot be read."""
    path = out / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); building everything again", path, exc)
        return None
    return manifest if isinstance(manifest, dict) else None


def write_manifest(out: Path, manifest: Mapping[str, Any]) -> None:
    """Replace ``out/build.json`` in one step."""
    path = out / MANIFEST
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _import_tensorflow() -> tuple[Any, Any]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # infergraph's import of TensorFlow holds back its start-up notices (oneDNN, no CUDA
    # driver), which TF_CPP_MIN_LOG_LEVEL does not silence.
    from infergraph.handlers._support import quiet_import

    try:
        tf = quiet_import("tensorflow")
        import keras
    except ImportError as exc:
        raise BuildError(
            f"the build needs TensorFlow and Keras 3 ({exc}); pip install -e '.[dev]'"
        ) from exc
    if keras.backend.backend() != "tensorflow":
        raise BuildError(
            f"the build needs Keras's TensorFlow backend, but Keras runs on "
            f"{keras.backend.backend()!r}; unset KERAS_BACKEND or set it to 'tensorflow'"
        )
    tf.config.experimental.enable_op_determinism()
    return tf, keras


def _versions(tf: Any, keras: Any) -> dict[str, str]:
    import onnx

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onnx": onnx.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: build into ``--out``; print each model's weights and the wall time."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild everything, even what is up to date"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # its notes on saving a model
    try:
        result = build(args.out, force=args.force)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    for name, entry in result.manifest["models"].items():
        state = "built" if name in result.built else "up to date"
        print(f"{name}: w={entry['w']!r} b={entry['b']!r} ({state})")
    done = f"built {', '.join(result.built)}" if result.built else "everything was up to date"
    print(f"{done} in {result.seconds:.2f} s: {result.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
