"""The ward CA and server certificate, checked the way a TLS client checks them."""

import ipaddress
import json
import ssl
import stat
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from app.web.tls import CA_CERT_DER_NAME, CA_KEY_NAME, make_ward_certificates
from tests.web.live_server import rounds_serve

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOSTS = ["rounds.ward4.local", "10.20.4.15", "localhost", "127.0.0.1"]


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _verifier(ca: x509.Certificate, name: x509.DNSName | x509.IPAddress, at: datetime):
    return PolicyBuilder().store(Store([ca])).time(at).build_server_verifier(name)


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_ward_certificates(HOSTS, tmp_path / "tls", now=NOW)


def test_server_certificate_verifies_against_the_ca_for_every_name(
    certificates: tuple[Path, Path, Path],
) -> None:
    ca_path, cert_path, _ = certificates
    ca, cert = _load(ca_path), _load(cert_path)
    cert.verify_directly_issued_by(ca)
    at = NOW + timedelta(days=30)
    _verifier(ca, x509.DNSName("rounds.ward4.local"), at).verify(cert, [])
    _verifier(ca, x509.DNSName("localhost"), at).verify(cert, [])
    _verifier(ca, x509.IPAddress(ipaddress.ip_address("10.20.4.15")), at).verify(cert, [])


def test_other_names_do_not_verify(certificates: tuple[Path, Path, Path]) -> None:
    ca_path, cert_path, _ = certificates
    with pytest.raises(VerificationError):
        _verifier(_load(ca_path), x509.DNSName("evil.example"), NOW).verify(_load(cert_path), [])


def test_sans_hold_names_and_addresses(certificates: tuple[Path, Path, Path]) -> None:
    cert = _load(certificates[1])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"rounds.ward4.local", "localhost"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.20.4.15"),
        ipaddress.ip_address("127.0.0.1"),
    }


def test_lifetimes(certificates: tuple[Path, Path, Path]) -> None:
    ca, cert = _load(certificates[0]), _load(certificates[1])
    assert ca.not_valid_after_utc - NOW == timedelta(days=3650)
    assert cert.not_valid_after_utc - NOW == timedelta(days=365)
    assert cert.not_valid_before_utc <= NOW
    with pytest.raises(VerificationError):
        _verifier(ca, x509.DNSName("localhost"), NOW + timedelta(days=366)).verify(cert, [])


def test_ca_is_a_ca_and_server_is_not(certificates: tuple[Path, Path, Path]) -> None:
    ca, cert = _load(certificates[0]), _load(certificates[1])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_private_keys_are_owner_only(certificates: tuple[Path, Path, Path]) -> None:
    ca_path, _cert_path, key_path = certificates
    for private in [key_path, ca_path.parent / CA_KEY_NAME]:
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert (ca_path.parent / CA_CERT_DER_NAME).read_bytes()[:1] == b"\x30"  # DER SEQUENCE


def test_renewal_keeps_the_ca_and_changes_the_server_key(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    ca_path, cert_path, key_path = make_ward_certificates(["rounds.local"], out, now=NOW)
    ca_before, key_before = ca_path.read_bytes(), key_path.read_bytes()
    later = NOW + timedelta(days=360)
    _, cert_path, key_path = make_ward_certificates(["rounds.local", "10.0.0.9"], out, now=later)
    assert ca_path.read_bytes() == ca_before  # devices keep trusting the same CA
    assert key_path.read_bytes() != key_before
    _verifier(_load(ca_path), x509.DNSName("rounds.local"), later).verify(_load(cert_path), [])


def test_a_key_file_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    out.mkdir()
    (out / "rounds-server-key.pem").write_text("old")
    (out / "rounds-server-key.pem").chmod(0o644)
    _, _, key_path = make_ward_certificates(["rounds.local"], out, now=NOW)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("names", [[], [""], ["  "]])
def test_host_names_are_required(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ValueError):
        make_ward_certificates(names, tmp_path)


def test_rounds_serve_speaks_https_with_the_ward_certificate(tmp_path: Path) -> None:
    ca_path, cert_path, key_path = make_ward_certificates(["127.0.0.1"], tmp_path / "tls")
    trust = ssl.create_default_context(cafile=str(ca_path))
    env = {"ROUNDS_TLS_CERTFILE": str(cert_path), "ROUNDS_TLS_KEYFILE": str(key_path)}
    with rounds_serve(tmp_path / "server", env=env, scheme="https", ssl_context=trust) as server:
        with urllib.request.urlopen(server.url("/healthz"), context=trust, timeout=5) as response:
            assert json.load(response) == {"status": "ok"}
        with pytest.raises(urllib.error.URLError):  # an untrusting client refuses it
            urllib.request.urlopen(
                server.url("/healthz"), context=ssl.create_default_context(), timeout=5
            )
