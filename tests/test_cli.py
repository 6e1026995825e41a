from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infergraph.cli import main
from infergraph.cli.predict import _options
from infergraph.core.tfexample import make_example
from infergraph.handlers.remote.config import RemoteConfig
from infergraph.handlers.tensorflow.tfx_protos import prediction_log_types
from infergraph.io.tfrecord import write_record


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_handlers_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["handlers"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["NAME", "PLUGIN", "PACKAGE"]
    assert ["onnx", "infergraph.handlers.onnx", "infergraph", "(built-in)"] in rows


def test_handlers_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["handlers", "--schema", "onnx"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["required"] == ["path"]
    assert schema["additionalProperties"] is False
    assert "description" in schema["properties"]["intra_op_threads"]


def test_unknown_handler_exits_2_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["handlers", "--schema", "onx"]) == 2
    err = capsys.readouterr().err
    assert "infergraph: error: no handler named 'onx'; registered handlers:" in err


def test_predict_keyed_jsonl_with_failures(five_onnx: Path, tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            '{"id": "a", "x": [105]}',
            '{"id": "b", "x": [108]}',
            "not json",
            '{"id": "c", "x": "text"}',
            '{"x": [1]}',
        ],
    )
    out = tmp_path / "out.jsonl"
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx)]
    args += ["--input", str(source), "--output", str(out), "--key-field", "id"]
    assert main([*args, "--set", "max_batch_size=2", "--set", "intra_op_threads=1"]) == 0
    assert sorted(read_jsonl(out), key=lambda r: r["id"]) == [
        {"id": "a", "output": [525.0]},
        {"id": "b", "output": [540.0]},
    ]
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert len(failures) == 3
    by_input = {json.dumps(f["input"]): f for f in failures}
    assert by_input['"not json"']["stage"] == "input"
    assert "not valid JSON" in by_input['"not json"']["message"]
    assert by_input['{"x": "text"}']["id"] == "c"
    assert by_input['{"x": "text"}']["stage"] == "run"
    assert by_input['"not json"']["message"].endswith(
        "in.jsonl, line 3: not valid JSON (Expecting value, column 1)"
    )
    assert "in.jsonl, line 5: no key field 'id'" in by_input['{"x": [1]}']["message"]


def test_predict_unkeyed_carries_the_input(five_onnx: Path, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"value": [2]}'])
    out = tmp_path / "o.jsonl"
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx)]
    assert main([*args, "--input", str(source), "--output", str(out)]) == 0
    assert read_jsonl(out) == [{"input": {"value": [2]}, "output": [10.0]}]


def test_predict_bad_set_names_the_field(
    five_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"x": [2]}'])
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--input", str(source)]
    assert main([*args, "--output", str(tmp_path / "o.jsonl"), "--set", "threads=2"]) == 2
    assert "invalid config for handler 'onnx': threads: unknown field" in capsys.readouterr().err
    assert main([*args, "--output", str(tmp_path / "o.jsonl"), "--set", "oops"]) == 2
    assert "--set expects NAME=VALUE, got 'oops'" in capsys.readouterr().err


def test_predict_missing_input(five_onnx: Path, tmp_path: Path, capsys) -> None:
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx)]
    assert main([*args, "--input", str(tmp_path / "none"), "--output", "o.jsonl"]) == 2
    assert "input " + repr(str(tmp_path / "none")) + " not found" in capsys.readouterr().err


def test_predict_writes_prediction_logs(five_onnx: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    source = write_jsonl(tmp_path / "in.jsonl", ['{"id": "a", "x": [2]}', '{"id": "b", "x": [3]}'])
    prefix = tmp_path / "logs"
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--input", str(source)]
    args += ["--output", str(prefix), "--key-field", "id", "--output-format", "predictionlog"]
    assert main(args) == 0
    files = sorted(tmp_path.glob("logs*"))
    assert files, "no TFRecord files written"
    log_cls = prediction_log_types().PredictionLog
    logs = [log_cls.FromString(r.numpy()) for r in tf.data.TFRecordDataset([str(f) for f in files])]
    outputs = sorted(
        float(tf.make_ndarray(log.predict_log.response.outputs["output_0"]).ravel()[0])
        for log in logs
    )
    assert outputs == [10.0, 15.0]


def test_predict_refuses_to_lose_data(
    five_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"id": "a", "x": [1]}'])
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--key-field", "id"]
    out = str(tmp_path / "out.jsonl")
    assert main([*args, "--input", str(source), "--output", out, "--failures", out]) == 2
    assert "the failures file" in capsys.readouterr().err
    assert main([*args, "--input", str(source), "--output", str(source)]) == 2
    assert "is an input file, which the run reads: writing it would" in capsys.readouterr().err
    assert source.read_text() == '{"id": "a", "x": [1]}\n'
    model = tmp_path / "five.onnx"
    model.write_bytes(five_onnx.read_bytes())
    args[args.index(str(five_onnx))] = str(model)
    assert main([*args, "--input", str(source), "--output", str(model)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"infergraph: error: the output file {str(model)!r} is the model, which the run reads: "
        "writing it would overwrite it; choose another path"
    )
    assert model.read_bytes() == five_onnx.read_bytes()


def test_predict_an_invalid_utf8_line_is_one_failure(five_onnx: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"id": "a", "x": [1]}\n\xff\xfe{"id": "b"}\n{"id": "c", "x": [3]}\n')
    out = tmp_path / "out.jsonl"
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--key-field", "id"]
    assert main([*args, "--input", str(source), "--output", str(out)]) == 0
    assert sorted(r["id"] for r in read_jsonl(out)) == ["a", "c"]
    (failure,) = read_jsonl(tmp_path / "out.failures.jsonl")
    assert failure["stage"] == "input"
    assert failure["message"].endswith("in.jsonl, line 2: not valid UTF-8 (byte 1 of the line)")


def test_predict_tfrecord_features_and_a_corrupt_record(five_onnx: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.tfrecord"
    with source.open("wb") as stream:
        for key, x in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
            write_record(stream, make_example({"id": key, "x": [x]}))
    data = bytearray(source.read_bytes())
    data[len(data) // 3 + 20] ^= 0xFF  # the second record's data
    source.write_bytes(bytes(data))
    out = tmp_path / "o.jsonl"
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--input", str(source)]
    args += ["--output", str(out), "--key-field", "id", "--example", "features"]
    assert main(args) == 0
    assert read_jsonl(out) == [{"id": "a", "output": [5.0]}, {"id": "c", "output": [15.0]}]
    (failure,) = read_jsonl(tmp_path / "o.failures.jsonl")
    assert failure["message"] == f"{source}: record 2: corrupt data (checksum mismatch)"


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `infergraph handlers --schema onnx | head -1`: the pipe's reader is gone before the command
    # writes; it stops with status 141 (128 + SIGPIPE), as Unix tools do, and no traceback.
    command = [sys.executable, "-m", "infergraph.cli", "handlers", "--schema", "onnx"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_predict_set_reads_a_value_as_the_field_s_type() -> None:
    """``--set token=123456`` is the text 123456 for a string field, not a number it refuses."""
    pairs = ["token=123456", "max_batch_size=8", "output_names=[\"y\"]", "model_id=null"]
    pairs += ["protocol=v2", "endpoint=http://127.0.0.1:1", "model=m", "version=2"]
    pairs += ["allow_http=true"]
    options = _options(pairs, RemoteConfig.model_fields)
    assert options["token"] == "123456" and options["max_batch_size"] == 8
    assert options["output_names"] == ["y"] and options["model_id"] is None
    assert options["version"] == "2" and options["allow_http"] is True
    config = RemoteConfig(**options)
    assert config.token is not None and config.token.get_secret_value() == "123456"


def test_predict_set_of_a_number_for_a_string_field_runs(
    five_onnx: Path, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"x": [2]}'])
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--input", str(source)]
    out = tmp_path / "o.jsonl"
    assert main([*args, "--output", str(out), "--set", "model_id=20240101"]) == 0
