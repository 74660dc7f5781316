"""Fixtures and helpers for the SMTP tests: a real SMTP catcher on loopback (aiosmtpd).

Import the `*_fixture` functions explicitly (pytest registers them under their `name`); no conftest.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integrations.mailer.message import OutgoingEmail
from integrations.mailer.settings import SmtpSettings
from sandbox.smtp_catcher import RunningCatcher, start_smtp_catcher

SENDER = "bonjour@maison-lumiere.example"
CUSTOMER = "zoe.martin@example.com"
SUPPORT = "support@maison-lumiere.example"


@pytest.fixture(name="smtp_catcher", scope="session")
def smtp_catcher_fixture() -> Iterator[RunningCatcher]:
    """One plain-SMTP catcher for the session."""
    running = start_smtp_catcher(smtp_port=0)
    yield running
    running.stop()


@pytest.fixture(name="catcher")
def catcher_fixture(smtp_catcher: RunningCatcher) -> RunningCatcher:
    """The session catcher, emptied and with no fault armed."""
    smtp_catcher.clear()
    return smtp_catcher


def settings_for(catcher: RunningCatcher, **overrides: Any) -> SmtpSettings:
    """Mailer settings pointing at `catcher` (environment variables ignored)."""
    values: dict[str, Any] = {
        "host": catcher.host,
        "port": catcher.smtp_port,
        "timeout_seconds": 5.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)


def sample_email(**overrides: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "from_address": SENDER,
        "from_name": "Maison Lumière",
        "to_address": CUSTOMER,
        "to_name": "Zoé Martin",
        "subject": "Votre commande #1001 est bien annulée",
        "text": "Bonjour Zoé,\n\nVotre commande #1001 est bien annulée.\n",
        "html": "<p>Bonjour Zoé,</p><p>Votre commande #1001 est bien annulée.</p>",
        "message_id": "<cancellation-confirmed.case-1@maison-lumiere.example>",
        "reply_to": SUPPORT,
    }
    values.update(overrides)
    return OutgoingEmail(**values)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class SelfSignedTls:
    """A throwaway certificate for 127.0.0.1: the server side context and the CA file to trust."""

    server_context: ssl.SSLContext
    ca_file: Path


def self_signed_tls(directory: Path) -> SelfSignedTls:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp-catcher.localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "catcher.pem"
    key_file = directory / "catcher.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return SelfSignedTls(server_context=context, ca_file=cert_file)
