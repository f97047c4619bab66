"""Security profile 2 (TLS + HTTP Basic) with a self-signed certificate made in the test,
in-process and for the standalone adapter configured through the environment."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.ocpp_adapter.conftest import OcppCSE, launch_ocpp, shutdown_ocpp
from tests.support.chargers import charge_point
from tests.support.client import unique
from tests.support.server import clean_env, free_port, port_open, tmpdir

PASSWORD = "correct-horse-battery-staple"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 / localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ocpp.crt", directory / "ocpp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture(scope="module")
def certificate() -> tuple[Path, Path]:
    return self_signed(tmpdir("citycse-tls-"))


@pytest.fixture(scope="module")
def tls_cse(certificate: tuple[Path, Path]) -> Iterator[OcppCSE]:
    cert, key = certificate
    cse = launch_ocpp("sqlite", ["--ocpp-tls-cert", str(cert), "--ocpp-tls-key", str(key)])
    yield cse
    shutdown_ocpp(cse)


async def test_tls_with_basic_auth(tls_cse: OcppCSE, certificate: tuple[Path, Path]):
    cert, _ = certificate
    cp_id = unique("cp")
    assert tls_cse.ocpp_url(cp_id).startswith("wss://")
    await asyncio.to_thread(tls_cse.cli, "chargers", "password", cp_id, "--set", PASSWORD)
    for password in (None, "wrong-password-0000000"):
        with pytest.raises(InvalidStatus) as refused:
            async with charge_point(tls_cse, cp_id, password, ssl=trusting(cert)):
                pass
        assert refused.value.response.status_code == 401
    async with charge_point(tls_cse, cp_id, PASSWORD, ssl=trusting(cert)) as cp:
        assert await cp.boot() == "Accepted"


async def test_tls_refuses_plain_websockets_and_untrusted_clients(
    tls_cse: OcppCSE, certificate: tuple[Path, Path]
):
    plain = tls_cse.ocpp_url("cpx").replace("wss://", "ws://")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the TLS server drops a plain handshake
        async with connect(plain, subprotocols=["ocpp1.6"], open_timeout=5):
            pass
    # a client that does not trust the certificate refuses the server
    with pytest.raises(ssl.SSLCertVerificationError):
        async with connect(tls_cse.ocpp_url("cpx"), subprotocols=["ocpp1.6"], open_timeout=5):
            pass
    # and the server still works afterwards
    cp_id = unique("cp")
    async with charge_point(tls_cse, cp_id, ssl=trusting(certificate[0])) as cp:
        assert await cp.boot() == "Accepted"


async def test_standalone_adapter_takes_tls_from_the_environment(
    ocpp_cse: OcppCSE, certificate: tuple[Path, Path]
):
    cert, key = certificate
    port = free_port()
    env = clean_env({"CITYCSE_OCPP_TLS_CERT": str(cert), "CITYCSE_OCPP_TLS_KEY": str(key)})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cse",
            "ocpp",
            "--cse-url",
            ocpp_cse.base_url,
            "--port",
            str(port),
            "--unknown-chargers",
            "accept",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        for _ in range(150):
            if port_open("127.0.0.1", port):
                break
            time.sleep(0.1)
        standalone = OcppCSE(ocpp_cse.server, ocpp_cse.db, port, ["--ocpp-tls-cert"])
        cp_id = unique("cp")
        await asyncio.to_thread(ocpp_cse.cli, "chargers", "password", cp_id, "--set", PASSWORD)
        with pytest.raises(InvalidStatus) as refused:
            async with charge_point(standalone, cp_id, ssl=trusting(cert)):
                pass
        assert refused.value.response.status_code == 401
        async with charge_point(standalone, cp_id, PASSWORD, ssl=trusting(cert)) as cp:
            assert await cp.boot() == "Accepted"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_certificate_without_its_key_is_refused_at_start(certificate: tuple[Path, Path]):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cse",
            "ocpp",
            "--cse-url",
            "http://127.0.0.1:9",
            "--port",
            str(free_port()),
            "--tls-cert",
            str(certificate[0]),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert done.returncode != 0
    assert "certificate and a key" in done.stderr
