"""Site keys and secret tokens: generated at random, stored hashed, compared in constant time.

The tokens carry 256 random bits, so a fast hash (SHA-256) is enough: a slow
password hash protects guessable secrets, and these are not guessable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SITE_KEY_PREFIX = "pk_"
READ_TOKEN_PREFIX = "pbr_"  # noqa: S105 - a prefix, not a secret
ADMIN_TOKEN_PREFIX = "pba_"  # noqa: S105 - a prefix, not a secret


def new_site_key() -> str:
    """A public site key (128 random bits); it is placed in web pages."""
    return SITE_KEY_PREFIX + secrets.token_urlsafe(16)


def new_read_token() -> str:
    """A secret read token (256 random bits), shown once and stored only hashed."""
    return READ_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_admin_token() -> str:
    """A secret admin token (256 random bits), shown once and stored only hashed."""
    return ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def secret_equals(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets given in clear."""
    return hmac.compare_digest(given.encode(), expected.encode())


def credential_fingerprint(secret_or_hash: str) -> str:
    """A short digest naming a credential without revealing it.

    Sessions carry it so that rotating a token ends the sessions opened with it.
    """
    return hashlib.sha256(b"perfbeacon-session:" + secret_or_hash.encode()).hexdigest()[:20]
