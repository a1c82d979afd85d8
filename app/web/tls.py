"""A ward's own certificate authority and HTTPS certificate, for `rounds serve` on the ward LAN.

Browsers install Rounds as an app only from a secure origin, and 127.0.0.1 is the only plain-HTTP
origin they accept. A ward has no public domain name, so Rounds makes a small local CA, whose
certificate is installed once on each ward device, and a server certificate signed by it.
"""

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "rounds-ca.pem"
CA_CERT_DER_NAME = "rounds-ca.cer"  # the same certificate, DER: what iOS and Android install
CA_KEY_NAME = "rounds-ca-key.pem"
SERVER_CERT_NAME = "rounds-server.pem"
SERVER_KEY_NAME = "rounds-server-key.pem"

CA_VALIDITY = timedelta(days=3650)
# Apple devices reject server certificates valid for more than 825 days, and browsers cap
# publicly trusted ones at 398; a year keeps every device happy. Renew yearly (the CA stays).
SERVER_VALIDITY = timedelta(days=365)
# Tolerates device clocks a little behind the server's.
BACKDATE = timedelta(hours=1)


def make_ward_certificates(
    host_names: list[str], out_dir: Path, *, now: datetime | None = None
) -> tuple[Path, Path, Path]:
    """Create (or renew) the ward CA and a server certificate; return (ca_cert, cert, key) paths.

    host_names: every name and address ward devices use to reach the server, for example
    ["rounds.ward4.local", "10.20.4.15"]. IP addresses become IP SANs, the rest DNS SANs; the
    first one is also the certificate's common name. At least one is required.

    out_dir (created if missing) receives:
    - rounds-ca.pem / rounds-ca.cer: the CA certificate (PEM / DER), valid 10 years. Install it
      as a trusted root on every ward device once; it is not secret.
    - rounds-ca-key.pem: the CA's private key (mode 0600). Keep it off the ward network if you
      can: anyone holding it can impersonate any site to the ward's devices.
    - rounds-server.pem / rounds-server-key.pem: the server certificate (valid 365 days) and its
      private key (mode 0600), for settings tls_certfile / tls_keyfile.

    If out_dir already holds the CA certificate and key, they are reused, so a yearly renewal (or
    a new host name) does not mean reinstalling the CA on devices. The server key is new on each
    call. Keys are ECDSA P-256; signatures SHA-256.
    """
    names = _unique_names(host_names)
    now = now or datetime.now(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    ca_cert_path = out_dir / CA_CERT_NAME
    ca_key_path = out_dir / CA_KEY_NAME

    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not an ECDSA key made by Rounds")
        if ca_cert.not_valid_after_utc < now + SERVER_VALIDITY:
            raise ValueError(
                f"{ca_cert_path} expires {ca_cert.not_valid_after_utc:%Y-%m-%d}, before the new "
                "server certificate would: move the old CA files away to make a new CA"
            )
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, names[0], now)
        _write_private(ca_key_path, _pem_key(ca_key))
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        (out_dir / CA_CERT_DER_NAME).write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, names, ca_cert, ca_key, now)
    key_path = out_dir / SERVER_KEY_NAME
    cert_path = out_dir / SERVER_CERT_NAME
    _write_private(key_path, _pem_key(server_key))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    return ca_cert_path, cert_path, key_path


def _unique_names(host_names: list[str]) -> list[str]:
    names: list[str] = []
    for raw in host_names:
        name = raw.strip().lower().rstrip(".")
        if not name:
            raise ValueError("host names must not be empty")
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("give at least one host name or IP address")
    return names


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, first_name: str, now: datetime
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Rounds"),
            # The name shown in device certificate settings: says which server it belongs to.
            x509.NameAttribute(NameOID.COMMON_NAME, f"Rounds ward CA ({first_name})"[:64]),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        # path_length=0: this CA signs server certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    names: list[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([_san_entry(name) for name in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # uvicorn reads the key unattended at start-up
    )


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start (no window where the key is world-readable), and forced to
    # 0600 if the file already existed with wider permissions.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
