"""The key-pair JWT that snowflake-connector-python's own code (auth/keypair.py, AuthByKeyPair.prepare) makes
for a given key, account, user and time, so a test can compare another implementation's JWT byte for byte.

    python jwt_reference.py --key KEY.pem [--passphrase-file F] --account myorg-myacct.us-east-1 \
        --user outpost_svc --iat 1700000000 [--lifetime 60 | --exp 1700000060] [--json]

Prints the JWT (or, with --json, {"jwt", "iss", "sub", "iat", "exp", "fingerprint"}). The connector reads the
current time with datetime.now(); this script substitutes a clock fixed at --iat for that call only.
RS256 (PKCS#1 v1.5) signatures are deterministic, so equal key, claims and times give equal bytes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from unittest import mock

from cryptography.hazmat.primitives import serialization


def connector_jwt(private_key_pem: bytes, account: str, user: str, iat: int, lifetime: int,
                  passphrase: bytes | None = None) -> str:
    from snowflake.connector.auth import keypair

    key = serialization.load_pem_private_key(private_key_pem, password=passphrase)
    fixed = _dt.datetime.fromtimestamp(iat, _dt.timezone.utc)

    class FixedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # the connector calls datetime.now(timezone.utc)
            return fixed if tz is not None else fixed.replace(tzinfo=None)

    env = {k: v for k, v in os.environ.items() if k != "JWT_LIFETIME_IN_SECONDS"}
    with mock.patch.dict(os.environ, env, clear=True), mock.patch.object(keypair, "datetime", FixedDatetime):
        auth = keypair.AuthByKeyPair(private_key=key, lifetime_in_seconds=lifetime)
        return auth.prepare(account=account, user=user)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--key", required=True, help="PEM private key (PKCS#8 or PKCS#1, encrypted or not)")
    p.add_argument("--passphrase-file")
    p.add_argument("--account", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--iat", type=int, required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--lifetime", type=int, default=None)
    g.add_argument("--exp", type=int, default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    lifetime = (a.exp - a.iat) if a.exp is not None else (a.lifetime if a.lifetime is not None else 60)
    passphrase = open(a.passphrase_file, "rb").read().rstrip(b"\r\n") if a.passphrase_file else None
    with open(a.key, "rb") as f:
        pem = f.read()
    token = connector_jwt(pem, a.account, a.user, a.iat, lifetime, passphrase)
    if a.json:
        import base64

        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        out = {"jwt": token, **claims, "fingerprint": claims["iss"][len(claims["sub"]) + 1:]}
        print(json.dumps(out))
    else:
        print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
