"""Who may see what: tokens become principals, principals are checked on every request.

A viewer's session names its site and a fingerprint of the site's read token; an
admin's names the admin token (the setting, or a stored token by name) and its
fingerprint. Rotating or revoking a token therefore ends the sessions opened with
it, without any server-side session store.
"""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import NotFound, Unauthenticated
from collector.security import admin_tokens
from collector.security.tokens import credential_fingerprint, hash_token, secret_equals
from collector.sites import access
from collector.sites import service as sites_service
from collector.sites.schemas import Site
from dashboard.session import Principal, Role

_MAX_TOKEN_LENGTH = 512


async def log_in(*, conn: AsyncConnection, token: str, admin_token: SecretStr | None) -> Principal:
    """The principal a token grants: admin for the admin token, viewer for a read token."""
    token = token.strip()
    if not token:
        raise Unauthenticated("Enter a site read token or the admin token.")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated("That token is not valid: it is far longer than any token.")
    holder = await access.holder_of(conn=conn, token=token, admin_token=admin_token)
    if holder.admin is not None:
        return Principal(
            role=Role.ADMIN,
            site_key=None,
            fingerprint=credential_fingerprint(holder.admin.token_hash),
            admin_token_name=holder.admin.name,
        )
    if holder.reader_of is None:
        raise Unauthenticated(
            "That token is neither a site read token nor the admin token. "
            "Check for a missing character, or create a site to get a new read token."
        )
    return Principal(
        role=Role.VIEWER,
        site_key=holder.reader_of.key,
        fingerprint=credential_fingerprint(hash_token(token)),
    )


async def still_valid(
    *, conn: AsyncConnection, principal: Principal, admin_token: SecretStr | None
) -> bool:
    """Whether the token a session was opened with is still the current one."""
    if principal.role is Role.ADMIN:
        return await admin_tokens.admin_credential_is_current(
            conn=conn,
            name=principal.admin_token_name,
            fingerprint=principal.fingerprint,
            configured=admin_token,
        )
    if principal.site_key is None:
        return False
    try:
        _site, token_hash = await sites_service.get_site_and_token_hash(
            conn=conn, key=principal.site_key
        )
    except NotFound:
        return False
    return secret_equals(credential_fingerprint(token_hash), principal.fingerprint)


async def visible_sites(*, conn: AsyncConnection, principal: Principal) -> list[Site]:
    """The sites a principal may see: all of them for an admin, its own for a viewer."""
    if principal.role is Role.ADMIN:
        return await sites_service.list_sites(conn=conn)
    if principal.site_key is None:
        return []
    return [await sites_service.get_site(conn=conn, key=principal.site_key)]


async def site_for(*, conn: AsyncConnection, principal: Principal, key: str) -> Site:
    """The site ``key`` if this principal may see it; NotFound otherwise (never a hint)."""
    if not principal.may_see(key):
        raise NotFound(f"no site with key {key[:80]!r}")
    return await sites_service.get_site(conn=conn, key=key)
