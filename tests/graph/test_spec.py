"""Spec files: YAML and JSON, validated, with errors that name the file, the line and the field."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import infergraph as ig
from infergraph import SpecError
from infergraph.cli import main
from infergraph.graph import compose
from infergraph.graph.load import load_spec
from infergraph.graph.spec import GraphSpec


@pytest.fixture
def models(tmp_path: Path, five_onnx: Path, ten_onnx: Path) -> Path:
    (tmp_path / "models").mkdir()
    for source in (five_onnx, ten_onnx):
        (tmp_path / "models" / source.name).write_bytes(source.read_bytes())
    (tmp_path / "adapters.py").write_text(
        "import numpy as np\n\n"
        "def to_x(y):\n    return np.asarray(y, dtype=np.float32).reshape(1)\n\n"
        "def both(a, b):\n    return float(a[0]) + float(b[0])\n"
    )
    return tmp_path


VALID = """\
name: times
imports: [adapters]
models:
  five: {handler: onnx, path: models/five.onnx}
  ten:
    handler: onnx
    path: models/ten.onnx
    max_batch_size: 2
nodes:
  - {name: five, model: five}
  - {name: to_x, function: "adapters:to_x", input: five}
  - {name: fifty, model: ten, input: to_x}
  - name: by_size
    route:
      cases:
        - when: {field: input.0, op: gt, value: 500}
          to: big
      default: small
  - {name: big, model: ten}
  - {name: small, model: five}
  - {name: total, function: "adapters:both", inputs: [fifty, five]}
  - {name: either, merge: [big, small]}
outputs:
  - {format: jsonl, path: out/results.jsonl, nodes: [fifty, total, either]}
"""


def write(directory: Path, text: str, name: str = "spec.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_spec_runs(models: Path) -> None:
    graph = ig.load_graph(write(models, VALID))
    assert graph.name == "times"
    assert graph.output_names == ["fifty", "total", "either"]
    assert graph.handlers()["fifty"].model_id == "ten"  # the model's name, shared by nodes
    assert graph.handlers()["fifty"].config.max_batch_size == 2
    (small, big) = graph.run([("a", [105.0]), ("b", [1000.0])])
    assert float(np.asarray(small["fifty"])[0]) == 5250.0
    assert small["total"] == 5250.0 + 525.0
    assert float(np.asarray(small["either"])[0]) == 525.0
    assert float(np.asarray(big["either"])[0]) == 10000.0
    assert big.lineage.routes == {"by_size": "big"}


def test_json_specs_and_relative_paths(models: Path) -> None:
    import yaml

    path = models / "sub"
    path.mkdir()
    data = yaml.safe_load(VALID)
    data["models"]["five"]["path"] = "../models/five.onnx"
    data["models"]["ten"]["path"] = str(models / "models" / "ten.onnx")  # absolute stays
    data["imports"] = []
    data["nodes"] = [n for n in data["nodes"] if "function" not in n]
    data["nodes"][1]["input"] = "five"
    data["outputs"][0]["nodes"] = ["fifty", "either"]
    spec = path / "spec.json"
    spec.write_text(json.dumps(data, indent=2))
    loaded = load_spec(spec)
    assert loaded.graph.handlers()["five"].config.path == str(path / "../models/five.onnx")
    assert loaded.resolve("out/x.jsonl") == str(path / "out/x.jsonl")
    assert loaded.resolve("gs://bucket/x") == "gs://bucket/x"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # unknown top-level key, with a suggestion
        ((VALID.replace("outputs:", "outptus:"),
          ":23: outptus: unknown field; did you mean 'outputs'")),
        # unknown node field
        ((VALID.replace("{name: five, model: five}", "{name: five, modle: five}"),
          ":10: nodes[0].modle: unknown field; did you mean 'model'")),
        # a node with two kinds
        ((VALID.replace("{name: big, model: ten}", "{name: big, model: ten, merge: [a, b]}"),
          ":19: nodes[4]: a node needs exactly one of model, function, route, split or merge")),
        # an unknown model
        ((VALID.replace("{name: fifty, model: ten,", "{name: fifty, model: tne,"),
          ":12: nodes[2].model: no model named 'tne' in `models`; did you mean 'ten'")),
        # an unknown handler
        ((VALID.replace("handler: onnx\n", "handler: onyx\n"),
          ":6: models.ten.handler: no handler named 'onyx'")),
        # a bad handler config field
        ((VALID.replace("max_batch_size: 2", "max_batch_sise: 2"),
          ":8: models.ten.max_batch_sise: invalid config for handler 'onnx'")),
        # an input that is not a node
        ((VALID.replace("input: five}", "input: fiv}"),
          ":11: nodes[1]: node 'to_x' takes input from 'fiv', which is not a node")),
        # a function from a module outside the allow-list
        ((VALID.replace("function: \"adapters:both\"", "function: \"os:system\""),
          ":21: nodes[6].function: module 'os' is not in the spec's `imports` allow-list")),
        # a function with the wrong arity
        ((VALID.replace("inputs: [fifty, five]", "inputs: [fifty]"),
          ":21: nodes[6].function: node 'total': function 'both'")),
        # a condition that is code
        ((VALID.replace("{field: input.0, op: gt, value: 500}", "\"input[0] > 500\""),
          ":16: nodes[3].route.cases[0].when: not a valid condition")),
        # a bad operator
        ((VALID.replace("op: gt", "op: greater"),
          ":16: nodes[3].route.cases[0].when: unknown op 'greater' (one of: eq, ne, lt, le, gt, "
          "ge, in, exists)")),
        ((VALID.replace("op: gt", "op: '>'"),
          ":16: nodes[3].route.cases[0].when: unknown op '>'; did you mean 'gt'?")),
        # a comparison whose value does not fit its operator: refused before any element fails
        ((VALID.replace("op: gt, value: 500", "op: in, value: 500"),
          ":16: nodes[3].route.cases[0].when: op 'in' takes a list of values, e.g. value: [a, b]; "
          "got 500")),
        ((VALID.replace("op: gt, value: 500", "op: ge"),
          ":16: nodes[3].route.cases[0].when: op 'ge' needs a value to compare 'input.0' with")),
        # a split weight that is not a finite positive number
        ((VALID.replace("  - {name: either, merge: [big, small]}\n",
                        "  - {name: either, merge: [big, small]}\n"
                        "  - {name: ab, split: {a1: .inf, a2: 1}}\n"
                        "  - {name: a1, model: ten}\n  - {name: a2, model: five}\n"),
          ":23: nodes[8]: split 'ab': arm weights must be finite and > 0; got ['a1=inf']")),
        # a condition on a downstream node
        ((VALID.replace("field: input.0", "field: big.0"),
          ":13: nodes[3]: route 'by_size', case for 'big': the condition reads 'big.0'")),
        # a misspelled model that no other node uses: the node's error, not the unused model's
        ((VALID.replace("{name: big, model: ten}", "{name: big, model: five}")
          .replace("{name: fifty, model: ten,", "{name: fifty, model: tne,"),
          ":12: nodes[2].model: no model named 'tne' in `models`; did you mean 'ten'")),
        # a model path that names nothing
        ((VALID.replace("path: models/ten.onnx", "path: models/tne.onnx"),
          ":7: models.ten.path: model 'ten': '{dir}/models/tne.onnx' not found (no such file or "
          "directory); a relative path is relative to the spec file's directory")),
        # an unused model
        ((VALID.replace("models:\n", "models:\n  spare: {handler: onnx, path: x.onnx}\n"),
          ":4: models.spare: model 'spare' is not used by any node")),
        # a misspelled choice: what was meant, and the choices
        ((VALID.replace("{format: jsonl, path: out", "{format: jsnl, path: out"),
          ":24: outputs[0].format: unknown format 'jsnl'; did you mean 'jsonl'? (one of: jsonl, "
          "parquet, predictionlog)")),
        ((VALID.replace("outputs:\n", "inputs:\n  - {format: csv, path: in.csv, read_as: row}\n"
                        "outputs:\n"),
          ":24: inputs[0].read_as: unknown read_as 'row'; did you mean 'rows'? (one of: auto, "
          "rows, blocks)")),
        (("version: 2\n" + VALID, ":1: version: unknown version 2 (one of: 1)")),
        # an output that is not a node
        ((VALID.replace("nodes: [fifty, total, either]", "nodes: [fifty, totl, either]"),
          ":24: outputs[0].nodes: 'totl' is not a node; did you mean 'total'")),
        # a node that feeds no output
        ((VALID.replace("nodes: [fifty, total, either]", "nodes: [fifty, either]"),
          ":21: nodes[6]: node 'total' feeds no output")),
        # a key given twice: YAML would keep the last one silently
        ((VALID.replace("  ten:\n", "  five: {handler: onnx, path: models/ten.onnx}\n  ten:\n"),
          ":5: models.five: duplicate key 'five' (first on line 4); a key may appear once")),
        ((VALID.replace("{name: big, model: ten}", "{name: big, model: ten, model: five}"),
          ":19: nodes[4].model: duplicate key 'model' (first on line 19)")),
        # tabs
        ((VALID.replace("  ten:\n    handler", "  ten:\n\thandler"),
          ":6: not valid YAML or JSON: found character '\\t' that cannot start any token "
          "(YAML indents with spaces only: replace the tabs)")),
        # not YAML at all
        (("nodes: [unclosed", ":1: not valid YAML or JSON")),
        # not a mapping
        (("- a\n- b\n", ":1: a spec is a mapping")),
    ],
)
def test_invalid_specs_name_file_line_and_field(models: Path, change: str, expected: str) -> None:
    path = write(models, change)
    with pytest.raises(SpecError) as info:
        ig.load_graph(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected.replace("{dir}", str(models)) in message, message


def test_yaml_anchors_and_merge_keys(models: Path) -> None:
    text = VALID.replace(
        "models:\n  five: {handler: onnx, path: models/five.onnx}\n",
        "models:\n  five: &onnx {handler: onnx, path: models/five.onnx}\n",
    ).replace(
        "  ten:\n    handler: onnx\n    path: models/ten.onnx\n",
        "  ten:\n    <<: *onnx\n    path: models/ten.onnx\n",
    )
    graph = ig.load_graph(write(models, text))
    assert graph.handlers()["fifty"].config.path.endswith("ten.onnx")
    assert graph.handlers()["fifty"].config.max_batch_size == 2


def test_a_cycle_in_a_spec(models: Path) -> None:
    text = """\
    imports: [adapters]
    nodes:
      - {name: a, function: "adapters:to_x", input: b}
      - {name: b, function: "adapters:to_x", input: a}
      - {name: out, function: "adapters:to_x"}
    """
    with pytest.raises(SpecError, match=r"spec.yaml:\d: nodes\[\d\]: the graph has a cycle"):
        ig.load_graph(write(models, text))


def test_schema_lists_every_section() -> None:
    schema = GraphSpec.model_json_schema()
    assert {"models", "nodes", "inputs", "outputs", "runner"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the spec"):
        ig.load_graph(tmp_path / "nope.yaml")


def test_two_specs_with_same_named_adapter_modules(tmp_path: Path) -> None:
    graphs = []
    for factor in (2, 3):
        directory = tmp_path / f"project{factor}"
        directory.mkdir()
        (directory / "adapters.py").write_text(f"def scale(x):\n    return x * {factor}\n")
        text = """\
        imports: [adapters]
        nodes:
          - {name: scaled, function: "adapters:scale"}
        """
        graphs.append(ig.load_graph(write(directory, text)))
    assert [next(g.run([("k", 5)]))["scaled"] for g in graphs] == [10, 15]


# -- the `imports` allow-list: a reference names a function an allowed module defines ------------


@pytest.mark.parametrize(
    ("imports", "function", "expected"),
    [
        # an allowed module's attribute that is another module: no walking through it
        ("[json]", "json:codecs.builtins.eval", "reaches module 'codecs' through an allowed"),
        ("[adapters]", "adapters:np.sum", "reaches module 'numpy' through an allowed module"),
        # a function the allowed module imported from elsewhere
        ("[adapters]", "adapters:system", "'adapters:system' is defined in"),
        ("[adapters]", "adapters:loads", "is defined in 'json', not in a module of the spec"),
        # a builtin reached through an allowed module
        ("[adapters]", "adapters:print_", "is defined in 'builtins'"),
    ],
)
def test_a_function_reference_cannot_leave_the_allowed_modules(
    tmp_path: Path, imports: str, function: str, expected: str
) -> None:
    (tmp_path / "adapters.py").write_text(
        "import numpy as np\nfrom json import loads\nfrom os import system\nprint_ = print\n"
        "def ok(x):\n    return x\n"
    )
    text = f"""\
    imports: {imports}
    nodes:
      - {{name: f, function: "{function}"}}
    """
    with pytest.raises(SpecError, match=r"spec.yaml:3: nodes\[0\].function: .*" + expected):
        ig.load_graph(write(tmp_path, text))


def test_functions_and_methods_an_allowed_module_defines_still_load(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "class Scale:\n    @staticmethod\n    def twice(x):\n        return 2 * x\n"
        "def thrice(x):\n    return 3 * x\n"
    )
    text = """\
    imports: [mine, json]
    nodes:
      - {name: a, function: "mine:Scale.twice"}
      - {name: b, function: "mine:thrice", input: a}
      - {name: c, function: "json:dumps", input: b}
    """
    graph = ig.load_graph(write(tmp_path, text))
    assert next(graph.run([("k", 5)]))["c"] == "30"


def test_a_node_from_a_spec_checks_its_reference_again_where_it_is_unpickled(
    tmp_path: Path,
) -> None:
    import pickle

    (tmp_path / "adapters.py").write_text("def ok(x):\n    return x\n")
    text = """\
    imports: [adapters]
    nodes:
      - {name: f, function: "adapters:ok"}
    """
    node = ig.load_graph(write(tmp_path, text)).nodes["f"]
    copy = pickle.loads(pickle.dumps(node))
    assert copy.allowed == ("adapters",)
    assert copy.function(7) == 7
    forged = replace(node, ref="json:codecs.open", fn=None, allowed=("json",))
    with pytest.raises(ig.ConfigError, match="reaches module 'codecs'"):
        _ = pickle.loads(pickle.dumps(forged)).function


def test_the_spec_directory_is_not_left_on_sys_path(tmp_path: Path) -> None:
    import sys

    (tmp_path / "adapters.py").write_text(
        "import helpers\n\ndef ok(x):\n    return helpers.double(x)\n"
    )
    (tmp_path / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    # a file named like a library beside the spec: never imported in the library's place
    marker = tmp_path / "hijacked"
    (tmp_path / "colorsys.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    text = """\
    imports: [adapters]
    nodes:
      - {name: f, function: "adapters:ok"}
    """
    sys.modules.pop("colorsys", None)
    try:
        graph = ig.load_graph(write(tmp_path, text))
        assert next(graph.run([("k", 4)]))["f"] == 8  # its own sibling module was importable
        assert str(tmp_path) not in sys.path
        import colorsys

        assert not marker.exists()
        assert Path(colorsys.__file__).parent != tmp_path
    finally:
        sys.modules.pop("adapters", None)
        sys.modules.pop("helpers", None)


def test_a_model_factory_obeys_the_imports_allow_list(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"""\
    models:
      m:
        handler: beam
        factory: "subprocess:run"
        kwargs: {{args: ["touch", "{marker}"]}}
    nodes:
      - {{name: m, model: m}}
    """
    with pytest.raises(
        SpecError,
        match=r"spec.yaml:4: models.m.factory: module 'subprocess' is not in the spec's `imports`",
    ):
        ig.load_graph(write(tmp_path, text))
    assert not marker.exists()
    allowed = text.replace("    models:", "    imports: [json]\n    models:")
    allowed = allowed.replace("subprocess:run", "json:codecs.open")
    with pytest.raises(SpecError, match=r"models\.m\.factory: model 'm': factory: 'json:codecs"):
        ig.load_graph(write(tmp_path, allowed))


# -- hostile files: bounded, one line, fast -----------------------------------------------------

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['x'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
) + "nodes: [*h]\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # billion laughs: 400 bytes whose aliases stand for 9**8 values
        (LAUGHS, ":6: the spec holds more than 200000 values, each alias counted"),
        # nested 1000 deep: libyaml's bound or ours, in our words (PyYAML's composer recurses)
        ("nodes: " + "[" * 1000 + "]" * 1000 + "\n", ":1: lists and mappings nested more than"),
        ("nodes: " + "[" * 70 + "]" * 70 + "\n", ":1: lists and mappings nested more than 64 deep"),
        ("nodes:\n" + "".join("  " * i + "- a:\n" for i in range(1, 80)), ":33: lists and map"),
        # 2 MB: refused before it is parsed
        ("imports: [" + ", ".join(f"m{i}" for i in range(300_000)) + "]\n", ": the spec is over "
         "1048576 bytes (1 MiB), the most a spec may be"),
        # an alias inside its own anchor: a cycle, which a walk would follow forever
        ("nodes: &a [*a]\n", ":1: not valid YAML or JSON: found undefined alias 'a'"),
        ("a: &x 1\nb: &x 2\nnodes: []\n",
         ":2: not valid YAML or JSON: found duplicate anchor 'x' (first on line 1)"),
        ("nodes: []\n---\nnodes: []\n", ":2: not valid YAML or JSON: found a second document"),
        # values YAML reads as numbers or dates but Python cannot make
        ("name: " + "1" * 5000 + "\n", ":1: not valid YAML or JSON: Exceeds the limit"),
        ("nodes: []\nname: 2001-13-45\n", ":2: not valid YAML or JSON: month must be in 1..12"),
        ("nodes: []\nname: !!float x\n", ":2: not valid YAML or JSON: could not convert string"),
        # code is never constructed
        ("nodes: []\nname: !!python/object/apply:os.system [ls]\n", ":2: not valid YAML or JSON: "
         "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply"),
    ],
)
@pytest.mark.parametrize("parser", ["libyaml", "pyyaml"])
def test_hostile_specs_are_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str, text: str, expected: str
) -> None:
    import time

    import yaml

    if parser == "pyyaml":
        monkeypatch.setattr(compose, "_PARSER", yaml.SafeLoader)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        ig.load_graph(path)
    assert time.perf_counter() - start < 1.0
    assert str(info.value).startswith(f"{path}{expected}"), str(info.value)


def test_a_big_file_cut_inside_a_character_is_still_too_big(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"name: " + "é".encode() * (1 << 20))
    with pytest.raises(SpecError, match="the spec is over 1048576 bytes"):
        ig.load_graph(path)


def test_the_command_refuses_a_billion_laughs_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    assert main(["run", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"infergraph: error: {path}:6: the spec holds more than"), line
