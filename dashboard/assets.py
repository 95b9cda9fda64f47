"""Static assets served by the app under content-hashed names, cacheable for a year.

A changed file gets a new name, so browsers never see a stale stylesheet and never
have to revalidate a current one. No CDN: every byte comes from this service.

>>> assets = Assets.from_directory(Path("dashboard/static"))
>>> assets.url_path("app.css")
'app.3f2a9c1b7d.css'
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

IMMUTABLE = "public, max-age=31536000, immutable"
_HASH_LENGTH = 10
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file's bytes, with its hashed name and content type."""

    hashed_name: str
    body: bytes
    media_type: str


class Assets:
    """The dashboard's static files, read once when the app is built."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for name, body in files.items():
            digest = hashlib.sha256(body).hexdigest()[:_HASH_LENGTH]
            stem, dot, suffix = name.rpartition(".")
            hashed = f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"
            media_type = _TYPES.get("." + suffix) or (
                mimetypes.guess_type(name)[0] or "application/octet-stream"
            )
            asset = Asset(hashed_name=hashed, body=body, media_type=media_type)
            self._by_name[name] = asset
            self._by_hashed[hashed] = asset

    @classmethod
    def from_directory(cls, directory: Path) -> Assets:
        """Every file directly inside ``directory``."""
        return cls({path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()})

    def url_path(self, name: str) -> str:
        """The hashed file name of asset ``name`` (KeyError for an unknown asset)."""
        return self._by_name[name].hashed_name

    def find(self, hashed_name: str) -> Asset | None:
        """The asset served under ``hashed_name``, if any."""
        return self._by_hashed.get(hashed_name)
