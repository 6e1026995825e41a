from __future__ import annotations

import pickle

import pytest

import infergraph as ig
from tests.core.handlers import ScaleConfig, ScaleHandler


def test_config_is_frozen_and_picklable() -> None:
    config = ScaleConfig(factor=3.0)
    with pytest.raises(ValueError, match="frozen"):
        config.factor = 4.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(config)) == config


def test_unknown_and_bad_fields_are_named() -> None:
    with pytest.raises(ig.ConfigError) as info:
        ScaleHandler(factr=3.0, max_batch_size=0)
    message = str(info.value)
    assert "factr: unknown field" in message
    assert "max_batch_size: Input should be greater than or equal to 1" in message
    assert "Valid fields:" in message and "factor" in message


@pytest.mark.parametrize("device", ["cpu", "gpu", "gpu:1", "auto"])
def test_devices(device: str) -> None:
    assert ScaleConfig(device=device).device == device


def test_bad_device_says_what_is_allowed() -> None:
    with pytest.raises(ig.ConfigError, match="device: Value error, must be 'cpu', 'gpu', 'gpu:N'"):
        ScaleHandler(device="cuda")


def test_gpu_index() -> None:
    assert ScaleConfig(device="gpu:2").gpu_index == 2
    assert ScaleConfig(device="gpu").gpu_index is None


def test_min_above_max_batch_size() -> None:
    with pytest.raises(ig.ConfigError, match=r"min_batch_size \(8\) exceeds max_batch_size \(4\)"):
        ScaleHandler(min_batch_size=8, max_batch_size=4)


def test_handler_takes_config_or_options_not_both() -> None:
    handler = ScaleHandler(ScaleConfig(factor=5.0))
    assert handler.config.factor == 5.0
    with pytest.raises(ig.ConfigError, match="not both"):
        ScaleHandler(ScaleConfig(), factor=2.0)
    with pytest.raises(ig.ConfigError, match="takes a ScaleConfig, got HandlerConfig"):
        ScaleHandler(ig.HandlerConfig())


def test_every_builtin_config_field_is_described() -> None:
    plugins = ig.get_plugin_manager(entry_points=[])
    for entry in plugins.handlers.values():
        for name, field in entry.handler_cls.Config.model_fields.items():
            assert field.description, f"{entry.name}.{name} has no description"


@pytest.mark.parametrize("device", ["cpu ", "cpu\n", " gpu", "gpu:1\n", "gpu:", "GPU", "gpu:-1"])
def test_devices_with_stray_characters_are_rejected(device: str) -> None:
    with pytest.raises(ig.ConfigError, match="device: Value error, must be 'cpu'"):
        ScaleHandler(device=device)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_batch_size", "8"),
        ("max_batch_size", True),
        ("max_batch_size", 8.0),
        ("min_batch_size", "2"),
        ("max_batch_bytes", "1000"),
        ("max_batch_duration_s", "0.5"),
        ("max_batch_duration_s", float("nan")),
        ("allow_cpu_fallback", "yes"),
        ("allow_cpu_fallback", 1),
        ("device", b"cpu"),
        ("model_id", 7),
    ],
)
def test_values_of_the_wrong_type_are_rejected_with_the_field_named(
    field: str, value: object
) -> None:
    expected = f"invalid config for handler 'ScaleHandler': {field}:"
    with pytest.raises(ig.ConfigError, match=expected):
        ScaleHandler(**{field: value})


def test_values_parsed_from_json_or_yaml_are_accepted() -> None:
    import json

    import yaml

    options = json.loads(
        '{"max_batch_size": 8, "max_batch_duration_s": 1, "allow_cpu_fallback": true}'
    )
    config = ScaleHandler(**options).config
    assert (config.max_batch_size, config.max_batch_duration_s) == (8, 1.0)
    config = ScaleHandler(**yaml.safe_load("max_batch_size: 8\nrun_timeout_s: 2.5\n")).config
    assert (config.max_batch_size, config.run_timeout_s) == (8, 2.5)
