"""Whom a token belongs to, and which site it may read: the one place tokens become
principals, for the API, the dashboard's login and the live feed. Knows nothing of HTTP.

    holder = await holder_of(conn=conn, token=token, admin_token=settings.admin_token)
    if holder.admin is not None: ...        # any site, and the admin APIs
    elif holder.reader_of is not None: ...  # that one site
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import NotFound, Unauthenticated
from collector.security import admin_tokens
from collector.security.schemas import AdminCredential
from collector.sites import service
from collector.sites.schemas import Site


@dataclass(frozen=True, slots=True)
class Holder:
    """What a token is: an admin credential, a site's read token, or nobody's (both None)."""

    admin: AdminCredential | None = None
    reader_of: Site | None = None

    @property
    def known(self) -> bool:
        """Whether the token is anybody's."""
        return self.admin is not None or self.reader_of is not None


async def holder_of(*, conn: AsyncConnection, token: str, admin_token: SecretStr | None) -> Holder:
    """The holder of ``token``: admin tokens are looked for first, then read tokens."""
    admin = await admin_tokens.find_admin_credential(conn=conn, token=token, configured=admin_token)
    if admin is not None:
        return Holder(admin=admin)
    try:
        return Holder(reader_of=await service.find_site_by_read_token(conn=conn, token=token))
    except Unauthenticated:
        return Holder()


async def readable_site(
    *, conn: AsyncConnection, key: str, token: str, admin_token: SecretStr | None
) -> Site:
    """The site ``key`` when ``token`` is its read token or an admin token.

    A token of another site gets NotFound, exactly like an unknown key; a token of
    nobody is Unauthenticated.
    """
    try:
        return await service.get_site_for_reader(conn=conn, key=key, read_token=token)
    except (NotFound, Unauthenticated):
        # Read tokens are the common case, so they cost the one lookup; an admin token,
        # which reads any site, is looked for only when the token is no reader's.
        admin = await admin_tokens.find_admin_credential(
            conn=conn, token=token, configured=admin_token
        )
        if admin is None:
            raise
    return await service.get_site(conn=conn, key=key)
