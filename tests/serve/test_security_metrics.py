"""The bearer token, TLS, Prometheus metrics and the access log."""

from __future__ import annotations

import datetime
import ipaddress
import logging
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import infergraph as ig
from infergraph.serve import create_app
from tests.serve.conftest import serving

BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [2.0]}]}


def test_a_token_guards_everything_but_health(
    five_graph: ig.Graph, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "infergraph.serve.access")
    with serving(create_app(five_graph, token="s3cret-token")) as base:
        url = f"{base}/v2/models/five/infer"
        assert requests.post(url, json=BODY, timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer s3cret-tokem"}
        assert requests.post(url, json=BODY, headers=wrong, timeout=10).status_code == 401
        right = {"Authorization": "Bearer s3cret-token"}
        assert requests.post(url, json=BODY, headers=right, timeout=10).status_code == 200
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
        assert requests.get(f"{base}/v2/health/ready", timeout=10).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "infergraph.serve.access"]
    assert any('"POST /v2/models/five/infer" 401' in line for line in lines)
    assert any('"POST /v2/models/five/infer" 200' in line and "id=" in line for line in lines)
    assert not any("s3cret" in r.getMessage() for r in caplog.records)


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


def test_tls(five_graph: ig.Graph, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    app = create_app(five_graph)
    with serving(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as base:
        assert base.startswith("https://")
        answer = requests.post(f"{base}/v2/models/five/infer", json=BODY, verify=cert, timeout=10)
        assert answer.json()["outputs"][0]["data"] == [10.0]


def test_metrics(five_graph: ig.Graph) -> None:
    with serving(create_app(five_graph)) as base:
        requests.post(f"{base}/v2/models/five/infer", json=BODY, timeout=10)
        requests.post(f"{base}/v2/models/five/infer", json={"inputs": []}, timeout=10)
        requests.post(f"{base}/v1/models/five:predict", json={"instances": [[1.0]]}, timeout=10)
        text = requests.get(f"{base}/metrics", timeout=10).text
    for line in [
        'infergraph_requests_total{model="five",protocol="v2",status="200"} 1.0',
        'infergraph_requests_total{model="five",protocol="v2",status="400"} 1.0',
        'infergraph_requests_total{model="five",protocol="v1",status="200"} 1.0',
        'infergraph_request_duration_seconds_count{model="five",protocol="v2"} 2.0',
        'infergraph_queue_depth{model="five"} 0.0',
        'infergraph_batch_size_count{node="five"} 2.0',
        'infergraph_node_inferences_total{node="five"} 2.0',
    ]:
        assert line in text, line
