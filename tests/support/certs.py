"""Real X.509 certificates made on the fly: a CA, server certificates, client certificates.

Keys are ECDSA P-256 (fast to generate, accepted by every TLS stack). Certificates carry
the extensions real ones do (basic constraints, key usage, extended key usage, SAN),
because OpenSSL checks them: a client certificate without ``clientAuth`` is refused.

Typical use::

    ca = CertificateAuthority.create("Test CA")
    server = ca.issue_server(["localhost", "127.0.0.1"])
    client = ca.issue_client("backoffice.example.es")
    cert_file, key_file = client.write(tmp_path, "client")
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority", "IssuedCertificate", "client_ssl_context"]

_VALIDITY = dt.timedelta(days=2)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        """The certificate in DER, as ``getpeercert(binary_form=True)`` returns it."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint in lowercase hex (the members file's ``sha256_fingerprint``)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` (PEM, unencrypted key) into ``folder``."""
        cert_file, key_file = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_file.write_bytes(self.cert_pem())
        key_file.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "interop-bus tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed root CA that issues server and client certificates."""

    issued: IssuedCertificate

    @classmethod
    def create(cls, common_name: str = "interop-bus test CA") -> CertificateAuthority:
        """A new root CA with a fresh key."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(IssuedCertificate(cert, key))

    def _issue(
        self,
        common_name: str,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
    ) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.issued.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issued.key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return IssuedCertificate(builder.sign(self.issued.key, hashes.SHA256()), key)

    def issue_server(self, hosts: list[str]) -> IssuedCertificate:
        """A server certificate for DNS names and IP addresses in ``hosts``."""
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        return self._issue(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, sans)

    def issue_client(self, common_name: str) -> IssuedCertificate:
        """A client certificate (``clientAuth``) with subject CN ``common_name``."""
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def write(self, folder: Path, stem: str = "ca") -> Path:
        """Write the CA certificate (PEM) to ``<stem>.crt`` and return its path."""
        path = folder / f"{stem}.crt"
        path.write_bytes(self.issued.cert_pem())
        return path


def client_ssl_context(server_ca: Path, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A client context trusting ``server_ca``, presenting ``client`` (cert, key) if given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_ca))
    if client is not None:
        context.load_cert_chain(*client)
    return context
