"""Debian's chromium for real-browser tests and screenshots (never a downloaded browser)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, chromium reaches out to Google services and stalls on a closed network;
# as root it also needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> bool:
    """Whether this machine lacks Debian's chromium or Playwright for Python."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return True
    return shutil.which("chromium") is None
