"""Helpers shared by the query tests."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.sites.schemas import Site

T0 = datetime(2026, 11, 10, tzinfo=UTC)


def site_with_id(site_id: int) -> Site:
    """A Site object for services, without a stored sites row (events need none)."""
    return Site(id=site_id, name=f"s{site_id}", key=f"pk_{site_id}", origins=[], created_at=T0)
