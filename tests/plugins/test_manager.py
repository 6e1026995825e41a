from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import infergraph as ig
from infergraph.beam import RunInference
from infergraph.plugins import DISABLE_ENV, get_plugin_manager
from tests.plugins.fixtures.family import ChildHandler, ParentHandler


def ep(name: str, module: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"tests.plugins.fixtures.{module}", group="infergraph")


def test_builtins_register_through_the_hook() -> None:
    plugins = get_plugin_manager(entry_points=[])
    entry = plugins.get("onnx")
    assert entry.plugin == "infergraph.handlers.onnx"
    assert entry.package == "infergraph (built-in)"
    assert not plugins.errors


def test_a_good_plugin_is_loaded_from_its_entry_point() -> None:
    plugins = get_plugin_manager(entry_points=[ep("good", "good")])
    entry = plugins.get("doubler")
    assert entry.plugin == "good"
    handler = plugins.create("doubler", factor=3.0)
    assert [float(r.output) for r in ig.predict(handler, [1.0])] == [3.0]


def test_a_plugin_that_fails_to_import_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    plugins = get_plugin_manager(entry_points=[ep("broken", "broken_import"), ep("good", "good")])
    assert "doubler" in plugins.handlers and "onnx" in plugins.handlers
    (error,) = plugins.errors
    assert isinstance(error, ig.PluginError)
    assert error.plugin == "broken"
    assert "plugin 'broken': failed to import: ModuleNotFoundError" in str(error)
    assert "infergraph_dependency_that_is_not_installed" in str(error)
    assert "plugin 'broken'" in caplog.text


def test_a_misspelled_hook_is_rejected_with_a_hint() -> None:
    plugins = get_plugin_manager(entry_points=[ep("typo", "misspelled")])
    (error,) = plugins.errors
    assert "implements unknown hook 'register_handler'; did you mean 'register_handlers'?" in str(
        error
    )
    assert "typo" not in [p for p, _ in plugins.manager.list_name_plugin()]


def test_a_duplicate_name_names_both_plugins() -> None:
    plugins = get_plugin_manager(entry_points=[ep("copycat", "duplicate")])
    (error,) = plugins.errors
    assert isinstance(error, ig.DuplicateHandlerError)
    assert str(error).startswith(
        "plugin 'copycat': handler name 'onnx' is already registered by plugin "
        "'infergraph.handlers.onnx'"
    )
    assert f"{DISABLE_ENV}=copycat" in str(error)
    assert plugins.get("onnx").plugin == "infergraph.handlers.onnx"


def test_a_plugin_failing_in_register_leaves_nothing_behind() -> None:
    plugins = get_plugin_manager(entry_points=[ep("flaky", "failing_register")])
    (error,) = plugins.errors
    assert str(error) == "plugin 'flaky': register_handlers failed: config file missing"
    assert isinstance(error.__cause__, RuntimeError)
    assert "half_registered" not in plugins.handlers


def test_registering_a_non_handler_is_an_error() -> None:
    plugins = get_plugin_manager(entry_points=[ep("odd", "not_a_handler")])
    (error,) = plugins.errors
    assert "registered 'nothing' as <class 'dict'>, which is not a ModelHandler subclass" in str(
        error
    )


def test_plugins_can_be_disabled_by_environment() -> None:
    plugins = get_plugin_manager(
        entry_points=[ep("good", "good"), ep("broken", "broken_import")],
        environ={DISABLE_ENV: "broken, good"},
    )
    assert "doubler" not in plugins.handlers
    assert not plugins.errors


def test_unknown_handler_lists_the_registered_names() -> None:
    plugins = get_plugin_manager(entry_points=[ep("good", "good"), ep("broken", "broken_import")])
    with pytest.raises(ig.HandlerNotFoundError) as info:
        plugins.get("onx")
    message = str(info.value)
    assert message.startswith("no handler named 'onx'; registered handlers: ")
    assert "doubler" in message and "onnx" in message
    assert "Did you mean 'onnx'?" in message
    assert "Plugins that failed to load: broken" in message


def test_handler_builds_with_a_validated_config(tmp_path) -> None:
    with pytest.raises(
        ig.ConfigError, match="invalid config for handler 'onnx': path: Field required"
    ):
        ig.handler("onnx")
    handler = ig.handler("onnx", path=str(tmp_path / "m.onnx"), device="cpu")
    assert handler.config.path == str(tmp_path / "m.onnx")


def test_each_manager_is_fresh() -> None:
    first = get_plugin_manager(entry_points=[ep("good", "good")])
    second = get_plugin_manager(entry_points=[])
    assert "doubler" in first.handlers and "doubler" not in second.handlers


def test_a_subclass_registered_after_its_parent_has_its_own_name() -> None:
    plugins = get_plugin_manager(entry_points=[ep("family", "family")])
    child = plugins.create("child", reject=7.0)
    assert child.name == "child"
    assert child.model_id == "child"
    failure, prediction = ig.predict(child, [7.0, 1.0])
    assert isinstance(failure, ig.Failure) and failure.node == "child"
    assert "failed in model node 'child'" in failure.message
    assert prediction.model_id == "child"
    assert RunInference(child).label == "RunInference[child]"
    assert plugins.create("parent").model_id == "parent"
    assert plugins.create("alias").model_id == "alias"
    # The registry leaves the classes alone: nothing is shared through a class attribute.
    assert ParentHandler.name == ChildHandler.name == ""
    assert ChildHandler().model_id == "ChildHandler"
