"""The server's TLS: a throwaway CA and a serving certificate for the loopback addresses.

kube-apiserver serves only HTTPS, and clients send their bearer tokens only over TLS (client-go
drops the token for an http:// server: kubernetes/kubectl#744), so the emulated server serves
TLS too, with a CA that kubeconfigs carry as certificate-authority-data. The certificate names
127.0.0.1, ::1 and localhost (every program reaches the server at 127.0.0.1, the speakers
through a port opened in their node's namespace) and kubernetes.default.svc, as the real one's
does. One CA and certificate per process (EC P-256: made in a millisecond), valid for a week
and from a day back (clients with skewed clocks).
"""

import datetime as dt
import functools
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

SKEW_ALLOWED = dt.timedelta(days=1)
VALIDITY = dt.timedelta(days=8)
DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
IP_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Credentials:
    """PEM-encoded CA certificate, serving certificate and its private key."""

    ca: bytes
    certificate: bytes
    key: bytes


@functools.cache
def credentials() -> Credentials:
    """This process's CA and serving certificate (made on first use)."""
    # Imported here: the lab's console script is in the image, cryptography is not.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    # Valid from a day ago: the clock-skew tests run clients whose wall clock is hours behind.
    start = dt.datetime.now(dt.UTC) - SKEW_ALLOWED
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metalpool-lab-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in DNS_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in IP_ADDRESSES]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Credentials(
        ca=ca.public_bytes(pem),
        certificate=certificate.public_bytes(pem),
        key=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def server_flags(folder: Path, credentials: Credentials) -> list[str]:
    """Write `credentials` into `folder` (the key 0600); `python -m lab.apiserver`'s flags for them.

    A child server given these serves the parent's certificate, so the parent's kubeconfigs and
    clients (which trust `credentials.ca`) reach it.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = []
    for flag, name, data in (
        ("--tls-cert-file", "tls.crt", credentials.certificate),
        ("--tls-private-key-file", "tls.key", credentials.key),
        ("--tls-ca-file", "ca.crt", credentials.ca),
    ):
        path = folder / name
        path.touch(mode=0o600)
        path.write_bytes(data)
        flags += [flag, str(path)]
    return flags


def server_context(credentials: Credentials) -> ssl.SSLContext:
    """The context the server listens with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # load_cert_chain reads files only: a private temporary directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="metalpool-tls-") as folder:
        certificate, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
        with open(certificate, "wb") as out:
            out.write(credentials.certificate + credentials.ca)
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
            out.write(credentials.key)
        context.load_cert_chain(certificate, key)
    return context


def client_context(ca: bytes) -> ssl.SSLContext:
    """A context that trusts the lab's CA (for test clients that do not read a kubeconfig)."""
    return ssl.create_default_context(cadata=ca.decode())
