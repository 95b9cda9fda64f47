"""Shapes of admin tokens and credentials as they leave the security service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel


class AdminToken(BaseModel):
    """A stored admin token, without its secret."""

    name: str
    created_at: datetime


class CreatedAdminToken(AdminToken):
    """An admin token just created: the only time its secret is shown."""

    token: str


@dataclass(frozen=True, slots=True)
class AdminCredential:
    """Which admin credential a caller presented: the setting (``name`` None) or a stored one.

    ``token_hash`` lets sessions opened with it carry a fingerprint that rotation changes.
    """

    name: str | None
    token_hash: str
