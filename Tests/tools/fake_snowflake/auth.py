"""Authentication of SQL API requests, as Snowflake documents it.

Key-pair JWT (X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT):
- RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over the user's registered public key, RSA_PUBLIC_KEY or RSA_PUBLIC_KEY_2;
- iss = ACCOUNT.USER.SHA256:<standard base64 of SHA-256 over the DER SubjectPublicKeyInfo>, naming the key used;
- sub = ACCOUNT.USER; ACCOUNT is the account identifier in upper case without region/cloud suffix, USER the login
  name in upper case; an empty sub is rejected;
- iat and exp present, exp after iat, exp - iat at most one hour, not expired, iat not in the future (with a
  small clock-skew allowance).
OAuth (OAUTH, also assumed when the header is absent) and programmatic access tokens (PROGRAMMATIC_ACCESS_TOKEN):
the token must be one configured for a user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_LIFETIME_SECONDS = 3600


class AuthError(Exception):
    """A request that must be answered 401 with Snowflake's error JSON."""

    def __init__(self, code: str, message: str, reason: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason  # why, for the fake's log and the tests (Snowflake only shows it to an admin)


@dataclass
class Principal:
    user: str
    token_type: str
    key_slot: str | None = None  # RSA_PUBLIC_KEY or RSA_PUBLIC_KEY_2


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """A PEM public key, or the bare base64 body of one as `ALTER USER … SET RSA_PUBLIC_KEY='…'` takes it."""
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode())
    else:
        key = serialization.load_der_public_key(base64.b64decode("".join(text.split())))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("only RSA public keys are supported")
    return key


def fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """What DESC USER shows as RSA_PUBLIC_KEY_FP: SHA256: + base64 of SHA-256 over the DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def jwt_account_part(account: str) -> str:
    """The account part of iss/sub for an account identifier, as Snowflake's drivers derive it: the text before
    the first '.', or before the first '-' when the identifier contains '.global', in upper case."""
    if ".global" in account:
        account = account.partition("-")[0]
    else:
        account = account.partition(".")[0]
    return account.upper()


def _b64url_decode(part: str) -> bytes:
    if any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Authenticator:
    def __init__(self, account: str, users: dict, leeway_seconds: int = 60, clock=time.time):
        self.account = jwt_account_part(account)
        self.leeway = leeway_seconds
        self.clock = clock
        self.keys: dict[str, list[tuple[str, rsa.RSAPublicKey, str]]] = {}  # USER -> [(slot, key, fingerprint)]
        self.tokens: dict[tuple[str, str], str] = {}  # (token type, token) -> user
        for name, spec in users.items():
            slots = []
            for slot, field in (("RSA_PUBLIC_KEY", "rsa_public_key"), ("RSA_PUBLIC_KEY_2", "rsa_public_key_2")):
                if spec.get(field):
                    key = load_public_key(spec[field])
                    slots.append((slot, key, fingerprint(key)))
            self.keys[name] = slots
            for token in spec.get("oauth_tokens") or []:
                self.tokens[("OAUTH", token)] = name
            for token in spec.get("programmatic_access_tokens") or []:
                self.tokens[("PROGRAMMATIC_ACCESS_TOKEN", token)] = name

    def authenticate(self, authorization: str | None, token_type: str | None) -> Principal:
        token_type = (token_type or "OAUTH").strip().upper()
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise AuthError("390101", "Authorization header is missing or is not a Bearer token.", "no bearer token")
        token = authorization[7:].strip()
        if token_type == "KEYPAIR_JWT":
            return self._jwt(token)
        if token_type in ("OAUTH", "PROGRAMMATIC_ACCESS_TOKEN"):
            user = self.tokens.get((token_type, token))
            if user is None:
                what = "OAuth access token" if token_type == "OAUTH" else "programmatic access token"
                raise AuthError("390303", f"Invalid {what}. [{uuid.uuid4()}]", f"unknown {token_type} token")
            return Principal(user=user, token_type=token_type)
        raise AuthError("390101", f"Unsupported authorization token type '{token_type}'.", "bad token type header")

    def _jwt(self, token: str) -> Principal:
        def invalid(reason: str) -> AuthError:
            return AuthError("390144", f"JWT token is invalid. [{uuid.uuid4()}]", reason)

        parts = token.split(".")
        if len(parts) != 3:
            raise invalid("not three dot-separated parts")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError) as e:
            raise invalid(f"undecodable: {e}") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise invalid("header or claims not a JSON object")
        if header.get("alg") != "RS256":
            raise invalid(f"alg {header.get('alg')!r} is not RS256")
        iss, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise invalid("empty or missing sub")
        if not isinstance(iss, str) or not iss:
            raise invalid("empty or missing iss")
        # sub = ACCOUNT.USER, exactly upper case (a user name can itself contain dots, the account cannot).
        account, dot, user = sub.partition(".")
        if not dot or not user:
            raise invalid("sub is not ACCOUNT.USER")
        if account != self.account:
            raise invalid(f"sub account {account!r} is not {self.account!r} (upper case, no region/cloud suffix)")
        if user != user.upper():
            raise invalid("sub user is not upper case")
        slots = self.keys.get(user)
        if slots is None:
            # users are matched by login name in upper case; definitions name them as Snowflake stores them
            raise invalid(f"no user {user!r}")
        prefix = f"{account}.{user}."
        if not iss.startswith(prefix):
            raise invalid("iss does not start with the sub's ACCOUNT.USER.")
        fp = iss[len(prefix):]
        if not fp.startswith("SHA256:"):
            raise invalid("iss fingerprint does not start with SHA256:")
        match = [(slot, key) for slot, key, kfp in slots if kfp == fp]
        if not match:
            raise invalid("iss fingerprint matches neither RSA_PUBLIC_KEY nor RSA_PUBLIC_KEY_2")
        slot, key = match[0]
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise invalid("signature does not verify against the fingerprinted key") from None
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or isinstance(iat, bool) or not isinstance(exp, int) or isinstance(exp, bool):
            raise invalid("iat/exp missing or not integers")
        now = self.clock()
        if exp <= iat:
            raise invalid("exp is not after iat")
        if exp - iat > MAX_LIFETIME_SECONDS:
            raise invalid("lifetime exp - iat is over one hour")
        if exp + self.leeway < now:
            raise invalid("expired")
        if iat - self.leeway > now:
            raise invalid("issued in the future")
        return Principal(user=user, token_type="KEYPAIR_JWT", key_slot=slot)
