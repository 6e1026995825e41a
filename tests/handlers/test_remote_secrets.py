"""The remote handler's token: one client per token, validated at config time, never shown."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import infergraph as ig
from infergraph.cli import main
from infergraph.core.errors import ConfigError
from infergraph.handlers.remote import RemoteHandler
from infergraph.handlers.remote.transport import _credentials
from tests.handlers.remote_server import Action, PredictionServer, text


def handler(server: PredictionServer, **options: Any) -> RemoteHandler:
    return RemoteHandler(protocol="tf_serving", endpoint=server.url, model="m", **options)


def test_handlers_differing_only_in_token_do_not_share_a_client() -> None:
    with PredictionServer(token="tok-b") as srv:
        a, b = handler(srv, token="tok-a"), handler(srv, token="tok-b")
        assert a.cache_key() != b.cache_key()
        assert "tok-" not in a.cache_key() + b.cache_key()
        running_a = ig.predict(a, [1, 2])
        first_a = next(running_a)  # a's client is loaded and held while b runs
        results_b = list(ig.predict(b, [3, 4]))
        rest_a = list(running_a)
    assert [r.output for r in results_b if isinstance(r, ig.Prediction)] == [6, 8]
    assert [type(r) for r in [first_a, *rest_a]] == [ig.Failure, ig.Failure]
    assert [s.authorized for s in srv.seen] == [False, True]


def test_same_token_shares_the_client() -> None:
    with PredictionServer() as srv:
        assert handler(srv, token="same").cache_key() == handler(srv, token="same").cache_key()


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("s3cr3t\n", "whitespace or control characters"),
        (" s3cr3t", "whitespace or control characters"),
        ("s3c r3t", "whitespace or control characters"),
        ("s3cr3t\x00", "whitespace or control characters"),
        ("", "must not be empty"),
    ],
)
def test_bad_tokens_are_refused_at_config_time(token: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        ig.handler("remote", protocol="v2", model="m", endpoint="http://127.0.0.1:9", token=token)
    message = str(info.value)
    assert f"token: Value error, {problem}" in message
    assert "strip" in message or "empty" in message  # says how to fix it
    shown = message + str(info.value.__cause__)
    assert "s3c" not in shown


def test_failure_messages_never_carry_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with PredictionServer(token="s3cr3t-value") as srv:
        srv.script(Action("echo_auth", status=401))
        (result,) = ig.predict(handler(srv, token="s3cr3t-value"), [("k", 1)])
    assert isinstance(result, ig.Failure) and result.key == "k"
    assert "HTTP 401: invalid credentials 'Bearer **********'" in result.message
    assert "s3cr3t" not in result.message + caplog.text


@pytest.mark.slow
def test_cli_failures_file_never_carries_the_token(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "x": 1}\n{"id": "b", "x": 2}\n')
    out = tmp_path / "out.jsonl"
    with PredictionServer(token="s3cr3t-value") as srv:
        srv.script(Action("echo_auth", status=403))
        options = {
            "protocol": "tf_serving", "endpoint": srv.url, "model": "m", "token": "s3cr3t-value",
            "max_batch_size": 1,
        }
        args = ["predict", "--handler", "remote", "--input", str(source), "--output", str(out)]
        args += ["--key-field", "id", "--no-progress"]
        for name, value in options.items():
            args += ["--set", f"{name}={json.dumps(value)}"]
        assert main(args) == 0
    failures = (tmp_path / "out.failures.jsonl").read_text()
    assert "invalid credentials" in failures
    assert "s3cr3t" not in failures
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] in (["a"], ["b"])


class NewlineCredentials:
    """Google-style credentials whose token ends with a newline, as read from a file."""

    token = "goog-t0ken\n"
    valid = True

    def refresh(self, request: Any) -> None:
        raise AssertionError("valid credentials are not refreshed")


def test_a_token_the_http_library_refuses_is_not_quoted() -> None:
    with PredictionServer() as srv:
        remote = RemoteHandler(
            protocol="vertex", project="p", location="l", endpoint_id="e", endpoint=srv.url,
            auth="google", credentials=NewlineCredentials(),
        )
        (result,) = ig.predict(remote, [("k", 1)])
        assert srv.seen == []
    assert isinstance(result, ig.Failure) and result.key == "k"
    assert "Authorization" in result.message and "**********" in result.message
    assert "t0ken" not in result.message


@pytest.mark.parametrize(
    "body",
    [
        # the token across the 500th character: cut after scrubbing, no prefix of it is left
        "e" * 490 + " Bearer s3cr3t-value-long-enough trailing",
        # encoded forms of the token, as proxies and frameworks quote headers
        "auth=" + base64.b64encode(b"Bearer s3cr3t-value-long-enough").decode(),
        "auth=" + base64.b64encode(b"xBearer s3cr3t-value-long-enough!").decode(),
        "token=" + quote("s3cr3t-value-long-enough+/", safe=""),
    ],
)
def test_an_error_body_never_carries_any_form_of_the_token(body: str) -> None:
    token = "s3cr3t-value-long-enough+/" if "%2B" in body else "s3cr3t-value-long-enough"
    with PredictionServer() as srv:
        srv.script(text(400, body))
        (result,) = ig.predict(handler(srv, token=token), [("k", 1)])
    assert isinstance(result, ig.Failure) and result.key == "k"
    assert "HTTP 400" in result.message
    assert "s3cr3t" not in result.message
    assert "value-long" not in result.message.replace("%2D", "-")
    for offset in range(3):  # base64 of the token, wherever it starts in the encoded bytes
        encoded = base64.b64encode(b"\0" * offset + b"s3cr3t-value-long-enough").decode()
        fragment = encoded[4:12] if offset else encoded[:8]
        assert fragment not in result.message, fragment
    assert "**" in result.message  # the mask, whole or cut


def test_basic_credentials_are_scrubbed_decoded_too() -> None:
    value = "Basic " + base64.b64encode(b"user:pa55w0rd-x").decode()
    secrets = _credentials(value)
    assert "pa55w0rd-x" in secrets and "user:pa55w0rd-x" in secrets
