"""Device class, browser and OS from the User-Agent, with ua-parser behind an LRU cache.

ua-parser (the maintained uap-core rules) names the browser, OS and device; the
device *class* is then read from those names the way browsers mark it: Android
phones say ``Mobile`` and Android tablets do not, iPads and iPhones name
themselves. Parsing costs ~0.1-0.5 ms; real traffic has few distinct
User-Agents, so nearly every beacon is a cache hit.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from collector.vitals import UNKNOWN

MAX_USER_AGENT = 512
MAX_NAME = 64

_MOBILE_OS = frozenset(
    {"ios", "windows phone", "blackberry os", "kaios", "symbian os", "firefox os", "tizen"}
)
_DESKTOP_OS = frozenset(
    {
        "windows",
        "mac os x",
        "linux",
        "ubuntu",
        "fedora",
        "debian",
        "chrome os",
        "freebsd",
        "openbsd",
        "netbsd",
        "solaris",
    }
)
_TABLET_DEVICES = frozenset({"ipad", "kindle", "generic tablet", "kindle fire", "playbook"})
_PHONE_DEVICES = frozenset({"iphone", "ipod", "generic smartphone", "generic feature phone"})


class Client(msgspec.Struct, frozen=True, gc=False):
    """What a User-Agent says about the browser that sent a beacon."""

    device: str
    browser: str
    os: str
    # A crawler (uap-core's "Spider" device) or a headless browser: not a visitor.
    bot: bool = False


UNKNOWN_CLIENT = Client(device=UNKNOWN, browser=UNKNOWN, os=UNKNOWN)


def is_bot(user_agent: str | None) -> bool:
    """Whether the User-Agent is a crawler or a headless browser, by ua-parser's rules."""
    return bool(user_agent) and client_of(user_agent).bot


def client_of(user_agent: str | None) -> Client:
    """Device class (mobile, tablet, desktop, unknown), browser and OS, lower case."""
    if not user_agent:
        return UNKNOWN_CLIENT
    return _parse(user_agent[:MAX_USER_AGENT])


@lru_cache(maxsize=8_192)
def _parse(user_agent: str) -> Client:
    # Imported here: loading the parser is slow and the service must start fast.
    import ua_parser

    result = ua_parser.parse(user_agent)
    browser = _name(result.user_agent.family if result.user_agent else None)
    os = _name(result.os.family if result.os else None)
    device_family = _name(result.device.family if result.device else None)
    return Client(
        device=_device_class(user_agent, os=os, device_family=device_family),
        browser=browser,
        os=os,
        bot=device_family == "spider" or browser.startswith("headless"),
    )


def _name(family: str | None) -> str:
    if not family or family == "Other":
        return UNKNOWN
    return family.lower()[:MAX_NAME]


def _device_class(user_agent: str, *, os: str, device_family: str) -> str:
    if device_family == "spider":
        return UNKNOWN
    if device_family in _TABLET_DEVICES:
        return "tablet"
    if device_family in _PHONE_DEVICES or os in _MOBILE_OS:
        return "mobile"
    if os == "android":
        # Chrome and Firefox on Android put "Mobile" in phone User-Agents only.
        return "mobile" if "Mobile" in user_agent else "tablet"
    if os in _DESKTOP_OS:
        return "desktop"
    return UNKNOWN


def warm_up() -> None:
    """Load the parser's rules now, so the first beacon does not pay for it."""
    _parse("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
