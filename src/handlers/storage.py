"""Model files on any filesystem Beam can read, fetched once per process into a local cache.

A handler whose model is a local file or directory opts in with one call in its ``load``::

    path = local_model(self.config.path, kind="file")   # or kind="directory" (a SavedModel)

A local path comes back as it is. A URL (``gs://``, ``s3://``, ``hdfs://``, ... : whatever Beam's
``FileSystems`` reads with the pipeline's options) is copied into the cache directory
(``$INFERGRAPH_MODEL_CACHE``, by default ``<tmp>/infergraph-models``) under a name made of the
URL and its version (each file's size, modification time and checksum, an S3 or GCS etag), so a
new version of the object is a new copy and an unchanged one is fetched once: once per process
(the result is remembered), and once per machine (a copy is written beside its place and renamed
into it, so processes sharing the cache see it whole or not at all).

Errors: a URL that names nothing raises :class:`ModelLoadError` naming it; a scheme without its
Beam filesystem, or with its libraries missing, raises :class:`MissingDependencyError` naming the
``apache-beam`` extra to install; a store that refuses the request (no credentials, access denied)
raises :class:`ModelLoadError` with the store's own words and the options that carry credentials.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from ..core.errors import MissingDependencyError, ModelLoadError

CACHE_ENV = "INFERGRAPH_MODEL_CACHE"
"""The environment variable naming the cache directory."""

Kind = Literal["file", "directory"]

# The extra of apache-beam that brings each scheme's filesystem.
_EXTRAS = {"gs": "gcp", "s3": "aws", "azfs": "azure", "hdfs": "hadoop"}
_CREDENTIALS = {
    "s3": "--s3_access_key_id/--s3_secret_access_key (and --s3_endpoint_url for an S3-compatible "
    "store) or the AWS_* environment variables",
    "gs": "application default credentials (gcloud auth application-default login) or "
    "GOOGLE_APPLICATION_CREDENTIALS",
}

_fetched: dict[str, str] = {}
_lock = threading.Lock()


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL of a filesystem other than the local one."""
    return "://" in path and not path.startswith("file://")


def local_model(path: str, *, kind: Kind) -> str:
    """A local path holding the model at ``path`` (``path`` itself when it is local).

    Raises:
        ModelLoadError: nothing is at the URL, or the store refused to read it.
        MissingDependencyError: Beam has no filesystem for the URL's scheme here.
    """
    if not is_url(path):
        return path
    with _lock:
        if not os.path.exists(_fetched.get(path, "")):  # first use, or the cache was cleared
            _fetched[path] = fetch(path, kind=kind)
        return _fetched[path]


def cache_dir() -> str:
    """The directory that holds fetched models."""
    return os.environ.get(CACHE_ENV) or os.path.join(tempfile.gettempdir(), "infergraph-models")


def fetch(url: str, *, kind: Kind) -> str:
    """The local copy of the current version of the model at ``url``, fetched unless the cache
    holds it (:func:`local_model` calls this once per process and URL).

    Raises:
        ModelLoadError: nothing is at the URL, or the store refused to read it.
        MissingDependencyError: Beam has no filesystem for the URL's scheme here.
    """
    filesystems = _filesystems(url)
    url = url.rstrip("/")
    files = _listing(filesystems, url, kind)
    version = hashlib.sha256(repr((url, files)).encode()).hexdigest()[:16]
    name = url.rsplit("/", 1)[-1] or "model"
    target = os.path.join(cache_dir(), f"{version}-{name}")
    if os.path.exists(target):
        return target
    staging = os.path.join(cache_dir(), f".partial-{uuid.uuid4().hex}")
    try:
        for remote, *_ in files:
            local = staging if kind == "file" else os.path.join(staging, remote[len(url) + 1 :])
            _copy(filesystems, remote, local)
        try:
            os.rename(staging, target)
        except OSError:  # another process put the same version in place first
            if not os.path.exists(target):
                raise
    finally:
        _remove(staging)
    return target


def _filesystems(url: str) -> Any:
    scheme = url.split("://", 1)[0]
    extra = _EXTRAS.get(scheme)
    install = f"pip install 'apache-beam[{extra}]'" if extra else f"the {scheme} filesystem"
    try:
        from apache_beam.io.filesystems import FileSystems  # noqa: PLC0415 (Beam: lazy)

        FileSystems.get_filesystem(url)
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading the model {url!r} needs apache-beam; install it with: {install}",
            package="apache-beam",
        ) from exc
    except (ValueError, OSError) as exc:  # no filesystem for the scheme, or its library missing
        raise MissingDependencyError(
            f"no filesystem for {scheme}:// URLs is installed, so the model {url!r} cannot be "
            f"read; install it with: {install}",
            package="apache-beam",
            extra=extra,
        ) from exc
    return FileSystems


def _listing(filesystems: Any, url: str, kind: Kind) -> list[tuple[str, int, float, str]]:
    """``(url, size, mtime, checksum)`` of each file of the model (one for a file)."""
    pattern = url if kind == "file" else f"{url}/**"
    try:
        found = filesystems.match([pattern])[0].metadata_list
        files = sorted(meta.path for meta in found if kind == "file" or meta.path != url + "/")
        listing = [_describe(filesystems, path, found) for path in files]
    except Exception as exc:
        raise _refused(url, exc) from exc
    if kind == "file":
        listing = [entry for entry in listing if entry[0] == url]
    if not listing:
        what = "no object" if kind == "file" else "no objects under it"
        raise ModelLoadError(f"model {url!r} not found: {what} (check the URL and its bucket)")
    return listing


def _describe(filesystems: Any, path: str, found: Sequence[Any]) -> tuple[str, int, float, str]:
    meta = next(meta for meta in found if meta.path == path)
    try:
        checksum = str(filesystems.checksum(path))
    except Exception:  # a filesystem without checksums: size and time alone
        checksum = ""
    return path, int(meta.size_in_bytes), float(meta.last_updated_in_seconds or 0.0), checksum


def _copy(filesystems: Any, remote: str, local: str) -> None:
    os.makedirs(os.path.dirname(local), exist_ok=True)
    try:
        with filesystems.open(remote) as source, open(local, "wb") as sink:
            shutil.copyfileobj(source, sink, length=8 << 20)
    except Exception as exc:
        raise _refused(remote, exc) from exc


def _refused(url: str, exc: Exception) -> ModelLoadError | MissingDependencyError:
    scheme = url.split("://", 1)[0]
    where = _CREDENTIALS.get(scheme)
    hint = f"; check its credentials ({where})" if where else ""
    if isinstance(exc, RuntimeError) and "dependencies are not installed" in str(exc):
        extra = _EXTRAS.get(scheme, scheme)
        return MissingDependencyError(
            f"reading the model {url!r} needs apache-beam's {scheme} libraries; install them "
            f"with: pip install 'apache-beam[{extra}]'",
            package="apache-beam",
            extra=extra,
        )
    return ModelLoadError(f"could not read the model {url!r}: {type(exc).__name__}: {exc}{hint}")


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)
