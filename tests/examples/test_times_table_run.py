"""The four TFX patterns of the times-table example, run as a user runs them (the README's
main command runs pattern 4)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "times_table"
QUESTIONS = {
    "first_question": 105.0,
    "second_question": 108.0,
    "third_question": 1000.0,
    "fourth_question": 1013.0,
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A copy of the example, built and run with every pattern: its output folder, stdout and
    stderr."""
    copy = tmp_path_factory.mktemp("times_table")
    for path in EXAMPLE.iterdir():
        if path.suffix in (".py", ".yaml"):
            shutil.copy(path, copy / path.name)
    done = subprocess.run(
        [sys.executable, str(copy / "run.py"), "--pattern", "all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return copy / "out", done.stdout, done.stderr


def test_it_prints_no_notices_of_other_libraries(ran: tuple[Path, str, str]) -> None:
    """TensorFlow's C++ start-up notices (oneDNN, no CUDA driver) are not silenced by
    TF_CPP_MIN_LOG_LEVEL (TF 2.21); the build and the run hold them back."""
    _, _, stderr = ran
    assert stderr == ""


def records(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]


def close(value: float, expected: float) -> bool:
    return abs(value - expected) <= 0.01 * expected


def test_pattern_1_predictions_from_tf_examples(ran: tuple[Path, str, str]) -> None:
    out, _, _ = ran
    found = sorted(r["five"][0] for r in records(out, "1_predictions"))
    assert all(close(v, 5 * x) for v, x in zip(found, sorted(QUESTIONS.values()), strict=True))
    assert sorted(out.glob("1_predictions.logs*")), "PredictionLog TFRecords written"


def test_pattern_2_post_processing(ran: tuple[Path, str, str]) -> None:
    out, _, _ = ran
    texts = sorted(r["text"] for r in records(out, "2_postprocess"))
    assert texts[2].startswith("input is [105.] output is [52")  # 525, within float error
    assert all(t.startswith("input is [") and " output is [" in t for t in texts)


def test_pattern_3_keys_attached(ran: tuple[Path, str, str]) -> None:
    out, _, _ = ran
    by_key = {r["key"]: r["five"][0] for r in records(out, "3_keys")}
    assert by_key.keys() == QUESTIONS.keys()
    assert all(close(by_key[k], 5 * x) for k, x in QUESTIONS.items())


def test_pattern_4_parallel_and_in_sequence(ran: tuple[Path, str, str]) -> None:
    out, stdout, _ = ran
    by_key = {r["key"]: r for r in records(out, "4_parallel_and_sequence")}
    assert by_key.keys() == QUESTIONS.keys()
    for key, x in QUESTIONS.items():
        record = by_key[key]
        assert close(record["five"][0], 5 * x) and close(record["ten"][0], 10 * x)
        assert close(record["then_ten"][0], 50 * x)
        assert record["lineage"]["nodes"] == ["example", "five", "ten", "to_x", "then_ten"]
    table = stdout.split("== pattern 4")[1].splitlines()
    assert table[2].split() == ["first_question", "105", "525", "1050", "5250"]
    assert table[5].split() == ["fourth_question", "1013", "5065", "10130", "50650"]
