"""Config of the ``remote`` handler: what to call, how to authorize, how hard to retry."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from ...core.config import HandlerConfig
from .auth import is_loopback

ProtocolName = Literal["ai_platform", "vertex", "tf_serving", "v2"]

V2_DATATYPES = frozenset(
    {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    }
)
"""The tensor datatypes of the Open Inference Protocol v2 (BF16 has no JSON form)."""


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
        description="v2: datatype per input name (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, "
        "FP64 or BYTES); inferred from the values otherwise (float64 as FP64, int64 as INT64, "
        "each numpy dtype as its own datatype).",
    )
    output_names: list[str] | None = Field(
        default=None,
        description="v2: outputs to request; all of the model's outputs if unset (an output the "
        "server leaves unnamed is named output_<i>, by position).",
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
        default=60.0,
        gt=0,
        description="Longest wait for any one read of an answer (seconds); deadline_s bounds the "
        "whole request.",
    )
    max_attempts: int = Field(
        default=6, ge=1, description="Attempts per request, the first one included."
    )
    deadline_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest time one batch may take, retries, waits and slow answers included "
        "(an answer still arriving at the deadline is cut off); then its unanswered examples "
        "fail.",
    )
    run_deadline_s: float | None = Field(
        default=None,
        gt=0,
        description="Longest time the run may keep sending, from the client's first request in "
        "this process; past it every batch fails at once (RunDeadlineError). Unset: no limit.",
    )
    backoff_initial_s: float = Field(
        default=0.5, gt=0, description="Ceiling of the first retry wait (full jitter)."
    )
    backoff_max_s: float = Field(default=30.0, gt=0, description="Largest retry wait ceiling.")
    circuit_breaker: bool = Field(
        default=True,
        description="Fail requests at once (CircuitOpenError) while the endpoint is down: after "
        "breaker_failures consecutive requests exhaust their retries, for breaker_cooldown_s, "
        "then let one probe request through. One breaker per endpoint URL per process.",
    )
    breaker_failures: int = Field(
        default=3,
        ge=1,
        description="Consecutive requests that exhaust their retries before the breaker opens.",
    )
    breaker_cooldown_s: float = Field(
        default=30.0,
        gt=0,
        description="How long an open breaker fails requests at once before it probes again "
        "(seconds).",
    )
    isolate_poison: bool = Field(
        default=True,
        description="Bisect a request that still gets HTTP 500 after its retries while the "
        "endpoint answers other requests, so that only the instances that crash the model fail.",
    )
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
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s ({self.backoff_initial_s}) exceeds backoff_max_s "
                f"({self.backoff_max_s}); raise backoff_max_s or lower backoff_initial_s"
            )
        return self

    @field_validator("token")
    @classmethod
    def _check_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        value = token.get_secret_value()
        if not value:
            raise ValueError("must not be empty; leave token unset to send no token")
        if not all("!" <= char <= "~" for char in value):
            raise ValueError(
                "whitespace or control characters (or non-ASCII ones) are not allowed in a "
                "token; strip it (a token read from a file often ends with a newline)"
            )
        return token

    @field_validator("datatypes")
    @classmethod
    def _check_datatypes(cls, datatypes: dict[str, str]) -> dict[str, str]:
        unknown = {name: kind for name, kind in datatypes.items() if kind not in V2_DATATYPES}
        if unknown:
            raise ValueError(
                f"unknown v2 datatype(s) {unknown}; use one of {', '.join(sorted(V2_DATATYPES))}"
            )
        return datatypes


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
