"""A real S3 API server on 127.0.0.1 (moto in server mode, a subprocess), and the Beam options
and environment that reach it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_ID = "infergraph-test"
SECRET = "infergraph-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint, and a boto3 client of it."""

    endpoint: str

    @property
    def options(self) -> list[str]:
        """Beam pipeline options that point Beam's S3 filesystem at this server."""
        return [
            f"--s3_endpoint_url={self.endpoint}",
            f"--s3_access_key_id={KEY_ID}",
            f"--s3_secret_access_key={SECRET}",
            f"--s3_region_name={REGION}",
        ]

    @property
    def env(self) -> dict[str, str]:
        """Environment variables with the same effect for boto3 (in worker processes)."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        )

    def upload(self, local: Path, url: str) -> None:
        """Copy a local file, or a directory's tree, to ``s3://bucket/key``."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        client = self.client()
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for path in files:
            name = key if path == local else f"{key}/{path.relative_to(local).as_posix()}"
            client.upload_file(str(path), bucket, name)

    def read(self, url: str) -> bytes:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        body: bytes = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def s3_server(*buckets: str, deny_all: bool = False) -> Iterator[S3Server]:
    """Start moto's server on a free port, create ``buckets``, stop it at the end; with
    ``deny_all``, a server that checks credentials and knows none (every request is refused)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0" if deny_all else "inf")
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    server = S3Server(f"http://127.0.0.1:{port}")
    try:
        _wait(server.endpoint, process)
        for bucket in buckets:
            server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto's server did not answer at {endpoint} within 30 s")
