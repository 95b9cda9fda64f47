"""Signed, stateless dashboard sessions and CSRF tokens.

The session cookie holds who is logged in (the role, the site of a viewer, the
name of a stored admin token, and a fingerprint of the credential used) signed
with itsdangerous; nothing is stored on
the server. CSRF protection is a signed double submit: a random nonce in its own
cookie, and the nonce signed with the instance secret in every form.

>>> codec = SessionCodec(secret="a long random secret", max_age_seconds=3600)
>>> cookie = codec.encode(Principal(role=Role.ADMIN, site_key=None, fingerprint="ab12"))
>>> codec.decode(cookie).role
<Role.ADMIN: 'admin'>
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

SESSION_COOKIE = "perfbeacon_session"
CSRF_COOKIE = "perfbeacon_csrf"
CSRF_FIELD = "csrf_token"

_SESSION_SALT = "perfbeacon.dashboard.session"
_CSRF_SALT = "perfbeacon.dashboard.csrf"


class Role(StrEnum):
    """What a session may see: every site (admin) or one site (viewer)."""

    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    """The logged-in party a session cookie names."""

    role: Role
    site_key: str | None
    fingerprint: str
    # The stored admin token an admin logged in with; None for the configured one.
    admin_token_name: str | None = None

    def may_see(self, site_key: str) -> bool:
        """Whether this session may read the site with public key ``site_key``."""
        return self.role is Role.ADMIN or self.site_key == site_key


class SessionCodec:
    """Turns principals into signed cookie values and back, and signs CSRF nonces."""

    def __init__(self, *, secret: str, max_age_seconds: int) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt=_SESSION_SALT)
        self._csrf = URLSafeSerializer(secret, salt=_CSRF_SALT)
        self.max_age_seconds = max_age_seconds

    def encode(self, principal: Principal) -> str:
        """The signed cookie value for ``principal``."""
        return self._sessions.dumps(
            {
                "r": principal.role.value,
                "s": principal.site_key,
                "f": principal.fingerprint,
                "n": principal.admin_token_name,
            }
        )

    def decode(self, cookie: str | None) -> Principal | None:
        """The principal of a cookie value, or None if it is absent, forged, expired or odd."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=self.max_age_seconds)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        role, site_key, fingerprint = data.get("r"), data.get("s"), data.get("f")
        admin_token_name = data.get("n")
        if role not in {r.value for r in Role} or not isinstance(fingerprint, str):
            return None
        if role == Role.VIEWER and not isinstance(site_key, str):
            return None
        if admin_token_name is not None and not isinstance(admin_token_name, str):
            return None
        return Principal(
            role=Role(role),
            site_key=site_key,
            fingerprint=fingerprint,
            admin_token_name=admin_token_name,
        )

    def csrf_token(self, nonce: str) -> str:
        """The form token for a CSRF cookie nonce."""
        return self._csrf.dumps(nonce)

    def csrf_valid(self, *, token: str | None, nonce: str | None) -> bool:
        """Whether a submitted form token was made from this browser's CSRF nonce."""
        if not token or not nonce:
            return False
        try:
            signed_nonce = self._csrf.loads(token)
        except BadSignature:
            return False
        return isinstance(signed_nonce, str) and secrets.compare_digest(signed_nonce, nonce)


def new_csrf_nonce() -> str:
    """A fresh random CSRF nonce for the CSRF cookie."""
    return secrets.token_urlsafe(24)
