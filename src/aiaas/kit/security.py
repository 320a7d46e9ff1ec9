"""Credential primitives: argon2 passwords, HMAC-hashed API keys, JWTs with pinned algorithms."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from aiaas.kit.clock import utcnow
from aiaas.kit.ids import new_id

JWT_ALGORITHM = "HS256"
"""The only algorithm accepted. Pinned in code: a token's own ``alg`` header is never trusted."""

# argon2id with OWASP's minimum (19 MiB, 2 passes, 1 lane): tens of milliseconds per guess.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_ALPHABET = string.ascii_letters + string.digits
_DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    """An argon2id hash of a password, computed in a worker thread (it is CPU-bound on purpose)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password off the event loop; spends the same time when there is no user (no oracle)."""
    return await asyncio.to_thread(_verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def random_token(length: int) -> str:
    """A random string over [A-Za-z0-9] from the system CSPRNG."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class ApiKeyParts:
    tenant_slug: str
    prefix: str
    secret: str


API_KEY_PREFIX_LEN = 8
API_KEY_SECRET_LEN = 40


def new_api_key(tenant_slug: str) -> tuple[str, ApiKeyParts]:
    """A new key ``ak_<tenant>_<prefix>_<secret>``; the tenant part lets the lookup run under RLS."""
    parts = ApiKeyParts(
        tenant_slug, random_token(API_KEY_PREFIX_LEN), random_token(API_KEY_SECRET_LEN)
    )
    return f"ak_{parts.tenant_slug}_{parts.prefix}_{parts.secret}", parts


def parse_api_key(raw: str) -> ApiKeyParts | None:
    """Split a presented key; ``None`` when it does not have our shape."""
    if not raw.startswith("ak_") or len(raw) > 200:
        return None
    head, _, secret = raw[3:].rpartition("_")
    slug, _, prefix = head.rpartition("_")
    if not slug or len(prefix) != API_KEY_PREFIX_LEN or len(secret) != API_KEY_SECRET_LEN:
        return None
    if not (prefix.isalnum() and secret.isalnum() and prefix.isascii() and secret.isascii()):
        return None
    return ApiKeyParts(slug, prefix, secret)


def hash_api_key(key: str, pepper: bytes) -> str:
    """HMAC-SHA-256 of a whole key: keys are high-entropy, so a fast keyed hash is right."""
    # hmac.digest is the one-shot C implementation: no HMAC object per request.
    return hmac.digest(pepper, key.encode(), "sha256").hex()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class TokenError(Exception):
    """A JWT was rejected; the message says why (never shown with the token itself)."""


@dataclass(frozen=True)
class JwtCodec:
    """Issues and verifies JWTs with a pinned algorithm and required ``iss``/``aud``/``exp``."""

    secret: str
    issuer: str
    audience: str

    def encode(
        self, claims: dict[str, Any], ttl: timedelta, *, typ: str
    ) -> tuple[str, str, datetime]:
        """Sign a token; returns the token, its ``jti`` and its expiry."""
        now = utcnow()
        expires = now + ttl
        jti = str(new_id())
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": jti,
            "typ": typ,
        }
        return jwt.encode(payload, self.secret, algorithm=JWT_ALGORITHM), jti, expires

    def decode(self, token: str, *, typ: str) -> dict[str, Any]:
        """Verify signature, algorithm, issuer, audience, expiry and token type."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[JWT_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from exc
        if claims.get("typ") != typ:
            raise TokenError(f"expected a {typ} token")
        return claims


def uuid_claim(claims: dict[str, Any], name: str) -> UUID | None:
    value = claims.get(name)
    try:
        return UUID(value) if value else None
    except (ValueError, TypeError) as exc:
        raise TokenError(f"claim {name} is not an id") from exc
