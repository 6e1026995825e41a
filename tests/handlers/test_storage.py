"""Models on object storage: the onnx and tensorflow handlers load from s3:// URLs of a real S3
API server (moto, a subprocess on 127.0.0.1), fetched once into a cache keyed by version."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

import infergraph as ig
from infergraph.core.errors import MissingDependencyError, ModelLoadError
from infergraph.handlers import storage
from tests import onnx_models
from tests.s3_server import S3Server, s3_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server("models") as server:
        yield server


@pytest.fixture(autouse=True)
def _filesystems(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Beam's FileSystems read the endpoint and credentials from the pipeline options, which a
    # pipeline sets (here: no pipeline, so the test sets them as an in-process user would).
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    FileSystems.set_options(PipelineOptions(s3.options))
    yield
    FileSystems.set_options(None)


def test_an_onnx_model_on_s3_predicts(s3: S3Server, tmp_path: Path) -> None:
    s3.upload(onnx_models.linear(tmp_path / "seven.onnx", 7.0), "s3://models/a/seven.onnx")
    handler = ig.handler("onnx", path="s3://models/a/seven.onnx")
    (prediction,) = ig.predict(handler, [np.array([2.0], dtype=np.float32)])
    assert prediction.output.tolist() == [14.0]


def test_fetched_once_per_version(s3: S3Server, tmp_path: Path) -> None:
    url = "s3://models/b/m.onnx"
    s3.upload(onnx_models.linear(tmp_path / "one.onnx", 1.0), url)
    first = storage.fetch(url, kind="file")
    stamp = os.stat(first).st_mtime_ns
    assert storage.fetch(url, kind="file") == first  # the same version: the same copy
    assert os.stat(first).st_mtime_ns == stamp
    s3.upload(onnx_models.linear(tmp_path / "two.onnx", 2.0), url)
    second = storage.fetch(url, kind="file")
    assert second != first  # a new version: a new copy, the old one left to its readers
    assert Path(second).read_bytes() == (tmp_path / "two.onnx").read_bytes()
    assert Path(first).read_bytes() == (tmp_path / "one.onnx").read_bytes()
    assert not [name for name in os.listdir(storage.cache_dir()) if name.startswith(".partial")]


def test_a_saved_model_directory_is_copied_whole(s3: S3Server, tmp_path: Path) -> None:
    from tests.handlers import tf_models

    local = tf_models.two_outputs(tmp_path / "saved")
    s3.upload(local, "s3://models/tf/two_outputs")
    copy = Path(storage.fetch("s3://models/tf/two_outputs/", kind="directory"))
    want = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == want
    handler = ig.handler("tensorflow", path="s3://models/tf/two_outputs")
    (prediction,) = ig.predict(handler, [np.array([1.0, 2.0, 3.0], dtype=np.float32)])
    assert set(prediction.output) == {"double", "total"}


def test_a_missing_object_or_bucket_names_the_url(s3: S3Server) -> None:
    handler = ig.handler("onnx", path="s3://models/none/such.onnx")
    with pytest.raises(ModelLoadError, match=r"model 's3://models/none/such.onnx' not found"):
        handler.load()
    with pytest.raises(ModelLoadError, match=r"'s3://models/none' not found: no objects"):
        storage.fetch("s3://models/none", kind="directory")
    with pytest.raises(ModelLoadError, match=r"'s3://nobucket/m.onnx' not found: no object"):
        storage.fetch("s3://nobucket/m.onnx", kind="file")


def test_refused_credentials_say_where_credentials_go() -> None:
    with s3_server(deny_all=True) as denying:
        FileSystems.set_options(PipelineOptions(denying.options))
        with pytest.raises(
            ModelLoadError,
            match=r"could not read the model 's3://models/m.onnx'.*Forbidden.*"
            r"check its credentials \(--s3_access_key_id",
        ):
            storage.fetch("s3://models/m.onnx", kind="file")


@pytest.mark.parametrize(
    ("url", "extra"), [("gs://b/m.onnx", "gcp"), ("hdfs://host/m.onnx", "hadoop")]
)
def test_a_scheme_without_its_filesystem_names_the_extra(url: str, extra: str) -> None:
    with pytest.raises(MissingDependencyError, match=rf"pip install 'apache-beam\[{extra}\]'"):
        storage.fetch(url, kind="file")


def test_a_local_path_is_returned_as_it_is(tmp_path: Path) -> None:
    assert storage.local_model(str(tmp_path / "m.onnx"), kind="file") == str(tmp_path / "m.onnx")
