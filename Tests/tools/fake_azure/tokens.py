"""JWTs for the fake Entra ID: the access tokens it issues (RS256 with a key made at start-up, published at the
tenant's jwks_uri) and the client assertions it verifies (RS256 or PS256 against a registered certificate, matched
by its `x5t` / `x5t#S256` thumbprint; federated tokens against a registered issuer key)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtError(Exception):
    pass


def decode_unverified(token: str):
    """(header, claims, signing_input, signature) or JwtError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("not a JWS compact serialization (three dot-separated parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, json.JSONDecodeError) as e:
        raise JwtError(f"undecodable JWT: {e}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("JWT header or claims not a JSON object")
    return header, claims, (parts[0] + "." + parts[1]).encode(), sig


def verify_rsa(public_key, alg: str, signing_input: bytes, sig: bytes) -> None:
    if alg == "RS256":
        pad = padding.PKCS1v15()
    elif alg == "PS256":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    else:
        raise JwtError(f"unsupported alg {alg!r} (RS256 or PS256)")
    try:
        public_key.verify(sig, signing_input, pad, hashes.SHA256())
    except InvalidSignature:
        raise JwtError("signature does not verify") from None


def check_times(claims: dict, now: float, skew: int = 300) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)):
        raise JwtError("no exp claim")
    if exp + skew < now:
        raise JwtError(f"expired at {int(exp)} (now {int(now)})")
    if isinstance(nbf, (int, float)) and nbf - skew > now:
        raise JwtError(f"not valid before {int(nbf)} (now {int(now)})")


class Certificate:
    def __init__(self, pem: bytes):
        self.cert = x509.load_pem_x509_certificate(pem)
        der = self.cert.public_bytes(serialization.Encoding.DER)
        self.x5t = b64url(hashlib.sha1(der).digest())  # noqa: S324 (the thumbprint Entra uses)
        self.x5t_s256 = b64url(hashlib.sha256(der).digest())
        self.public_key = self.cert.public_key()


def load_public_key(pem: bytes):
    """A PEM public key, or the public key of a PEM certificate."""
    if b"CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem).public_key()
    return serialization.load_pem_public_key(pem)


class Issuer:
    """Signs the fake's access tokens; verifies them for the Blob and Key Vault fakes."""

    def __init__(self, key_pem: bytes | None = None):
        """A fresh key, or an RSA private key (PEM) shared by several fakes so they accept each other's tokens."""
        if key_pem is None:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.key = serialization.load_pem_private_key(key_pem, None)
            if not isinstance(self.key, rsa.RSAPrivateKey):
                raise ValueError("the token signing key must be an RSA private key")
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = b64url(hashlib.sha256(der).digest())[:22]

    def jwks(self) -> dict:
        n = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                          "e": b64url(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}]}

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)

    def verify(self, token: str, now: float | None = None) -> dict:
        """The claims of a token this issuer signed that is within its lifetime (no skew), or JwtError."""
        header, claims, signing_input, sig = decode_unverified(token)
        if header.get("kid") != self.kid:
            raise JwtError("token not signed by this tenant's key (kid)")
        verify_rsa(self.key.public_key(), header.get("alg"), signing_input, sig)
        now = time.time() if now is None else now
        check_times(claims, now, skew=0)
        return claims
