"""Secrets in handler configs: told apart in cache keys, never shown in keys or failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretBytes, SecretStr

import infergraph as ig
from infergraph import HandlerConfig, ModelHandler
from infergraph.core.redaction import redact
from tests.core.handlers import ScaleHandler


class Vault(BaseModel):
    password: SecretStr = Field(description="A nested secret.")


class KeyedConfig(HandlerConfig):
    api_key: SecretStr = Field(description="A secret the model refuses to echo.")
    vaults: list[Vault] = Field(default_factory=list, description="Nested secrets.")
    salt: SecretBytes | None = Field(default=None, description="A secret in bytes.")


class LeakyHandler(ModelHandler[Any, list[Any], list[Any], Any, str]):
    """A model whose errors quote its key, as careless client libraries do."""

    Config = KeyedConfig
    config: KeyedConfig

    def load(self) -> str:
        return self.config.api_key.get_secret_value()

    def run(self, model: str, batch: list[Any]) -> list[Any]:
        if "boom" in batch:
            raise ValueError(f"request with key {model!r} failed for {batch}")
        return [f"{x}-ok" for x in batch]

    def secrets(self) -> Sequence[str]:
        return [*super().secrets(), "extra-secret-value"]


def test_cache_keys_tell_secrets_apart_without_showing_them() -> None:
    a = LeakyHandler(api_key="alpha-key-1")
    b = LeakyHandler(api_key="bravo-key-2")
    assert a.cache_key() != b.cache_key()
    assert a.cache_key() == LeakyHandler(api_key="alpha-key-1").cache_key()
    nested = LeakyHandler(api_key="alpha-key-1", vaults=[{"password": "pw-one"}])
    other = LeakyHandler(api_key="alpha-key-1", vaults=[{"password": "pw-two"}])
    assert nested.cache_key() != other.cache_key()
    salted = LeakyHandler(api_key="alpha-key-1", salt=b"pepper")
    assert salted.cache_key() != a.cache_key()
    keys = a.cache_key() + b.cache_key() + nested.cache_key() + salted.cache_key()
    for secret in ("alpha", "bravo", "pw-one", "pepper"):
        assert secret not in keys


def test_secrets_come_from_every_secret_field() -> None:
    handler = LeakyHandler(api_key="k-1", vaults=[{"password": "p-1"}], salt=b"s-1")
    assert sorted(handler.secrets()) == ["extra-secret-value", "k-1", "p-1", "s-1"]


def test_failure_messages_are_redacted() -> None:
    handler = LeakyHandler(api_key="alpha-key-1", max_batch_size=4)
    results = list(ig.predict(handler, [("a", "x"), ("b", "boom"), ("c", "extra-secret-value")]))
    assert [type(r).__name__ for r in results] == ["Prediction", "Failure", "Prediction"]
    failure = results[1]
    assert isinstance(failure, ig.Failure) and failure.key == "b"
    assert "request with key '**********' failed for ['boom']" in failure.message
    assert "alpha-key-1" not in failure.message
    assert handler.redact("extra-secret-value and alpha-key-1") == "********** and **********"


def test_handlers_without_secrets_keep_their_key() -> None:
    handler = ScaleHandler(factor=3.0)
    assert handler.secrets() == []
    assert "secrets=" not in handler.cache_key()
    assert handler.redact("nothing to hide") == "nothing to hide"


# -- every form of a secret, in failures and logs, redacted before any cut ----------------------


def test_redact_masks_escaped_url_and_base64_forms() -> None:
    import base64
    from urllib.parse import quote

    secret = "s3cr3t/v@lue+key"
    for prefix in (b"", b"u", b"us", b"user:"):
        encoded = base64.b64encode(prefix + secret.encode() + b"!tail").decode()
        assert "**********" in redact(f"header {encoded} end", [secret]), prefix
        chars = [c for c in encoded if c not in "**********"]
        assert secret not in "".join(chars)
    text = f"url ?token={quote(secret, safe='')} json \"{secret}\" repr {secret!r}"
    masked = redact(text, [secret])
    assert "s3cr3t" not in masked and "s3cr3t" not in masked.replace("%2F", "/")
    assert masked.startswith("url ?token=**********")
    assert redact("nothing here", [secret]) == "nothing here"


class BlockLeakyHandler(LeakyHandler):
    """A block handler whose model error quotes its key at length (cut in the logs)."""

    accepts_blocks = True

    def batch_block(self, block: ig.Block) -> list[Any]:
        return list(block.data)

    def run(self, model: str, batch: list[Any]) -> list[Any]:
        if "boom" in batch:
            raise ValueError("x" * 250 + f" key {model} " + "y" * 300)
        return [f"{x}-ok" for x in batch]

    def block_output(self, block: ig.Block, outputs: list[Any]) -> Any:
        import numpy as np

        return np.asarray(outputs, dtype=object)


def test_a_graph_block_failure_is_redacted() -> None:
    import numpy as np

    handler = BlockLeakyHandler(api_key="alpha-key-1", max_batch_size=8)
    graph = ig.Graph()
    graph.chain(graph.model("m", handler))
    block = ig.Block(np.asarray(["a", "boom", "c"], dtype=object), keys=["k1", "k2", "k3"])
    (result,) = graph.run([block])
    assert list(result.failures["m"]) == [1]  # row 1 alone failed
    message = result.failures["m"][1].message
    assert "**********" in message and "alpha" not in message


class OutOfMemoryLeaky(BlockLeakyHandler):
    """Runs out of memory on batches of more than 2, saying so with its key."""

    accepts_blocks = False

    def run(self, model: str, batch: list[Any]) -> list[Any]:
        if len(batch) > 2:
            raise MemoryError("o" * 250 + f" key {model} " + "p" * 300)
        return super().run(model, batch)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, MemoryError)


@pytest.mark.parametrize(
    ("handler", "warning"),
    [
        (BlockLeakyHandler(api_key="alpha-key-1", max_batch_size=8, model_id="leaky-bisect"),
         "bisecting it saved 3"),
        (OutOfMemoryLeaky(api_key="alpha-key-1", max_batch_size=8, model_id="leaky-oom"),
         "ran out of memory on a batch of 4"),
    ],
)
def test_warnings_quote_a_cause_redacted_before_it_is_cut(
    caplog: pytest.LogCaptureFixture, handler: LeakyHandler, warning: str
) -> None:
    import logging

    caplog.set_level(logging.WARNING, logger="infergraph")
    results = list(ig.predict(handler, ["a", "boom", "c", "d"]))
    assert [isinstance(r, ig.Failure) for r in results] == [False, True, False, False]
    assert warning in caplog.text
    assert "alpha" not in caplog.text and "**********" in caplog.text
