"""The ``remote`` handler: send batches to a prediction endpoint over HTTPS.

Protocols: AI Platform Prediction (``ai_platform``), Vertex AI (``vertex``), TensorFlow Serving
REST (``tf_serving``) and the Open Inference Protocol v2 of KServe and Triton (``v2``). A
prediction is what the endpoint returns for the example; an example the endpoint rejects (or
that stays unanswered past the retries) becomes a failure record on its own.

Nothing touches the network when the handler is built: ``load`` makes a :class:`RemoteClient`
whose sessions, sender threads and credentials come to life on first use, on the worker.
"""

from __future__ import annotations

import random as _random
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ...core.config import HandlerConfig
from ...core.handler import ModelHandler
from ...plugins.hookspecs import Register, hookimpl
from .auth import Auth, Credentials, GoogleAuth, NoAuth, StaticToken, is_loopback
from .client import RemoteClient, Sleep
from .config import RemoteConfig
from .protocols import AIPlatformProtocol, Protocol, TFServingProtocol, VertexProtocol
from .retry import Clock, Random
from .v2 import OpenInferenceProtocol

PROTOCOLS: dict[str, type[Protocol]] = {
    "ai_platform": AIPlatformProtocol,
    "vertex": VertexProtocol,
    "tf_serving": TFServingProtocol,
    "v2": OpenInferenceProtocol,
}
"""Protocol classes by their ``protocol`` config name."""


class RemoteHandler(ModelHandler[Any, list[Any], list[Any], Any, RemoteClient]):
    """Sends batches to a remote prediction endpoint (see :class:`RemoteConfig`).

    The seams (keyword-only, production defaults) let tests and callers replace time, randomness
    and Google credentials; they travel with the handler when Beam pickles it.

    Args:
        config: A :class:`RemoteConfig`, or pass its fields as ``options``.
        clock: Monotonic clock in seconds.
        sleep: Waits between attempts.
        random: Uniform random numbers in ``[0, 1)`` for jitter and throttling.
        credentials: Google credentials instead of the application default credentials.
        **options: Config fields, when ``config`` is not given.
    """

    Config = RemoteConfig
    config: RemoteConfig

    def __init__(
        self,
        config: HandlerConfig | None = None,
        /,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        random: Random | None = None,
        credentials: Credentials | None = None,
        **options: Any,
    ) -> None:
        super().__init__(config, **options)
        self.clock: Clock = clock or time.monotonic
        self.sleep: Sleep = sleep or time.sleep
        # None: each loaded client seeds its own generator, so workers' jitter is uncorrelated.
        self.random: Random | None = random
        self.credentials = credentials
        seams = (clock, sleep, random, credentials)
        # Handlers with their own seams must not share a loaded client with other handlers.
        self._seam_id = uuid.uuid4().hex if any(s is not None for s in seams) else ""

    def load(self) -> RemoteClient:
        """A client for the endpoint; it opens connections and credentials on first use."""
        protocol = PROTOCOLS[self.config.protocol](self.config)
        return RemoteClient(
            self.config,
            protocol,
            self._auth(protocol),
            clock=self.clock,
            sleep=self.sleep,
            random=self.random or _random.Random().random,
        )

    def run(self, model: RemoteClient, batch: list[Any]) -> list[Any]:
        """Send the batch as concurrent wire requests; one prediction or exception per example."""
        return model.predict(batch)

    def postprocess(self, examples: Sequence[Any], outputs: list[Any]) -> list[Any]:
        """The endpoint's prediction of each example (exceptions for failed examples)."""
        return outputs

    def default_model_id(self) -> str:
        """``remote:<protocol>:<model or endpoint id>``."""
        target = self.config.model or self.config.endpoint_id
        return f"remote:{self.config.protocol}:{target}"

    def cache_key(self) -> str:
        """The config's key, made unique for a handler with injected seams."""
        key = super().cache_key()
        return f"{key}:{self._seam_id}" if self._seam_id else key

    def _auth(self, protocol: Protocol) -> Auth:
        config = self.config
        mode = config.auth
        if mode == "auto":
            if config.token is not None:
                mode = "token"
            elif is_loopback(urlsplit(protocol.url).hostname or "") or not protocol.google:
                mode = "none"
            else:
                mode = "google"
        if mode == "token":
            assert config.token is not None
            return StaticToken(config.token.get_secret_value())
        if mode == "google":
            return GoogleAuth(self.credentials)
        return NoAuth()

    def __repr__(self) -> str:
        return f"RemoteHandler({self.config!r})"


@hookimpl
def register_handlers(register: Register) -> None:
    """Register the ``remote`` handler."""
    register("remote", RemoteHandler)
