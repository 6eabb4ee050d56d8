"""Entra ID tokens the tests make: a key pair of their own, and ID tokens signed with it as Entra ID signs them.

Every token made here is registered as a secret (tests/conftest.py): a log line or span holding one fails the run.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from . import conftest


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey = field(repr=False)
    kid: str

    @classmethod
    def make(cls, kid: str | None = None) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid or uuid.uuid4().hex)

    @property
    def public(self) -> rsa.RSAPublicKey:
        return self.private.public_key()


def id_token(key: SigningKey, *, issuer: str, audience: str, oid: str, lifetime: int = 3600, **claims: Any) -> str:
    """An ID token as Entra ID's v2.0 endpoint issues one; ``claims`` add to or replace its claims (None drops)."""
    now = int(time.time())
    body = {"iss": issuer, "aud": audience, "oid": oid, "tid": issuer.rstrip("/").split("/")[-2],
            "preferred_username": "oncall@contoso.example", "name": "On Call", "iat": now, "nbf": now,
            "exp": now + lifetime, "ver": "2.0", "sub": uuid.uuid4().hex}  # fmt: skip
    body.update(claims)
    token = jwt.encode({k: v for k, v in body.items() if v is not None}, key.private, algorithm="RS256",
                       headers={"kid": key.kid})  # fmt: skip
    conftest.SECRETS.add(token)
    return token
