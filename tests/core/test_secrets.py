"""Secrets in handler configs: told apart in cache keys, never shown in keys or failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, SecretBytes, SecretStr

import infergraph as ig
from infergraph import HandlerConfig, ModelHandler


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
    from tests.core.handlers import ScaleHandler

    handler = ScaleHandler(factor=3.0)
    assert handler.secrets() == []
    assert "secrets=" not in handler.cache_key()
    assert handler.redact("nothing to hide") == "nothing to hide"
