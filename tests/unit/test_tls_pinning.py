"""An https callback is sent to the address resolved once, while TLS still checks the certificate against
the callback's name: pinning must not weaken verification."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from graphops.delivery.deliverer import Deliverer
from graphops.egress.policy import CallbackPolicy
from graphops.local.receiver import CallbackReceiver

NOW = dt.datetime.now(dt.UTC)


def _issue(
    name: str, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey | None, ca: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer if issuer_key else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256()), key


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """A CA file, and a server context whose certificate names callback.test."""
    ca_cert, ca_key = _issue("graphops test CA", x509.Name([]), None, ca=True)
    cert, key = _issue("callback.test", ca_cert.subject, ca_key, ca=False)
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    yield str(tmp_path / "ca.pem"), context


def deliver(receiver: CallbackReceiver, ca: str, name: str) -> tuple[bool, str]:
    allowed = f"{name}:{receiver.port}"
    policy = CallbackPolicy((allowed,), resolver=lambda host, port: ["127.0.0.1"], is_public=lambda address: True)
    result = Deliverer(policy, None, ca_certs=ca).deliver(
        f"https://{allowed}/cb?sig=s", "t1", {"outcome": "succeeded"}, NOW
    )
    return result.delivered, result.detail


def test_https_to_the_pinned_address_verifies_the_callbacks_name(tls: tuple[str, ssl.SSLContext]) -> None:
    ca, context = tls
    with CallbackReceiver(secret=None, tls=context) as receiver:
        assert deliver(receiver, ca, "callback.test") == (True, "delivered (200)")
        assert [r.webhook_id for r in receiver.received] == ["t1"]


def test_a_certificate_for_another_name_is_refused(tls: tuple[str, ssl.SSLContext]) -> None:
    ca, context = tls
    with CallbackReceiver(secret=None, tls=context) as receiver:
        delivered, detail = deliver(receiver, ca, "other.test")
        assert not delivered and "SSLError" in detail
        assert receiver.received == []
