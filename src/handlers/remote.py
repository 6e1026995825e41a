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
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from ..core.config import HandlerConfig
from ..core.handler import ModelHandler
from ..plugins.hookspecs import Register, hookimpl
from .remote_auth import Auth, Credentials, GoogleAuth, NoAuth, StaticToken, is_loopback
from .remote_client import RemoteClient, Sleep
from .remote_protocols import PROTOCOLS, Protocol
from .remote_retry import Clock, Random

ProtocolName = Literal["ai_platform", "vertex", "tf_serving", "v2"]


class RemoteConfig(HandlerConfig):
    """Config of the ``remote`` handler."""

    default_max_batch_size = 512

    protocol: ProtocolName = Field(
        description="Wire protocol: 'ai_platform' (AI Platform Prediction), 'vertex' (Vertex AI "
        "endpoints), 'tf_serving' (TensorFlow Serving REST) or 'v2' (Open Inference Protocol, "
        "KServe/Triton)."
    )
    endpoint: str | None = Field(
        default=None,
        description="Base URL ('https://host[:port]') to send to instead of the protocol's "
        "Google host (private endpoints, a local server); required for tf_serving and v2.",
    )
    project: str | None = Field(
        default=None, description="Google Cloud project (ai_platform and vertex)."
    )
    location: str | None = Field(
        default=None,
        description="Region of the endpoint: the Vertex AI location, or the AI Platform region "
        "(default us-central1).",
    )
    endpoint_id: str | None = Field(default=None, description="Vertex AI endpoint id (vertex).")
    model: str | None = Field(
        default=None, description="Model name (ai_platform, tf_serving and v2)."
    )
    version: str | None = Field(
        default=None, description="Model version; the default version when unset."
    )
    signature_name: str | None = Field(
        default=None, description="Serving signature to call (ai_platform and tf_serving)."
    )
    parameters: dict[str, Any] | None = Field(
        default=None, description="'parameters' sent with every request (vertex and v2)."
    )
    input_name: str = Field(
        default="input",
        description="v2: the input tensor name of examples that are not dicts of named inputs.",
    )
    datatypes: dict[str, str] = Field(
        default_factory=dict,
        description="v2: datatype per input name (e.g. FP32, INT64, BYTES); inferred otherwise.",
    )
    output_names: list[str] | None = Field(
        default=None, description="v2: outputs to request; all of the model's outputs if unset."
    )
    auth: Literal["auto", "google", "token", "none"] = Field(
        default="auto",
        description="Authorization: 'google' (application default credentials, cloud-platform "
        "scope), 'token' (the static `token`), 'none', or 'auto': the token if set, none for "
        "loopback hosts, Google credentials for the Google protocols, none otherwise.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="Static bearer token (a secret: never printed, logged or in a repr).",
    )
    allow_http: bool = Field(
        default=False,
        description="Allow plain http:// to hosts other than loopback (http is always allowed "
        "for loopback hosts).",
    )
    concurrency: int = Field(
        default=8, ge=1, le=256, description="Requests in flight at once per worker process."
    )
    max_instances_per_request: int = Field(
        default=32, ge=1, description="Most instances in one HTTP request."
    )
    max_request_bytes: int = Field(
        default=1_500_000,
        gt=0,
        description="Byte budget of one request body; batches are split to stay under it.",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, description="Connect timeout (seconds).")
    timeout_s: float = Field(
        default=60.0, gt=0, description="Read timeout of one request (seconds)."
    )
    max_attempts: int = Field(
        default=6, ge=1, description="Attempts per request, the first one included."
    )
    deadline_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest time one batch may spend on retries before its unanswered "
        "examples fail.",
    )
    backoff_initial_s: float = Field(
        default=0.5, gt=0, description="Ceiling of the first retry wait (full jitter)."
    )
    backoff_max_s: float = Field(default=30.0, gt=0, description="Largest retry wait ceiling.")
    split_on_400: bool = Field(
        default=True,
        description="Bisect a request the endpoint rejects with 400 so that only the bad "
        "instances fail.",
    )
    throttle_k: float = Field(
        default=2.0,
        ge=1.0,
        description="Adaptive throttling overload ratio: requests may exceed accepted requests "
        "by this factor over the window before the client holds requests back.",
    )
    throttle_window_s: float = Field(
        default=10.0, gt=0, description="Adaptive throttling window (seconds)."
    )
    throttle_min_rejects: int = Field(
        default=5,
        ge=1,
        description="Overload answers (429/503) the window must hold before the client holds "
        "any request back.",
    )
    throttle_delay_s: float = Field(
        default=1.0, gt=0, description="Wait of a request the throttler holds back (seconds)."
    )

    @model_validator(mode="after")
    def _check_target(self) -> RemoteConfig:
        required = {
            "ai_platform": ("project", "model"),
            "vertex": ("project", "location", "endpoint_id"),
            "tf_serving": ("endpoint", "model"),
            "v2": ("endpoint", "model"),
        }[self.protocol]
        missing = [name for name in required if not getattr(self, name)]
        if missing:
            raise ValueError(f"protocol {self.protocol!r} needs {', '.join(missing)}")
        if self.auth == "token" and self.token is None:
            raise ValueError("auth='token' needs a token")
        if self.endpoint is not None:
            _check_endpoint(self.endpoint, self.allow_http)
        return self

    @property
    def host(self) -> str:
        """The host requests go to."""
        return urlsplit(PROTOCOLS[self.protocol](self).url).hostname or ""


def _check_endpoint(endpoint: str, allow_http: bool) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint must be an http(s) URL like 'https://host:port', got {endpoint!r}"
        )
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise ValueError(
            f"endpoint {endpoint!r} is plain http to a non-loopback host; use https, "
            "or set allow_http=true"
        )


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
            elif is_loopback(config.host) or not protocol.google:
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
