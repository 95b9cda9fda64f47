"""Trim real LHRs into test fixtures: drop screenshots, traces, i18n and item details,
keep every field Lighthouse CI's assertions, statistics and representative-run choice
read (scores, display modes, numeric values, item counts, resource-summary and
user-timings items, categories with their audit refs).

Usage: python trim_lhr.py RAW_DIR FIXTURE_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

AUDIT_KEYS = ("id", "title", "score", "scoreDisplayMode", "numericValue", "numericUnit")
KEEP_ITEMS = {
    "resource-summary": ("resourceType", "label", "requestCount", "transferSize", "size"),
    "user-timings": ("name", "startTime", "duration", "timingType"),
}
TOP_KEYS = (
    "lighthouseVersion",
    "requestedUrl",
    "mainDocumentUrl",
    "finalDisplayedUrl",
    "finalUrl",
    "fetchTime",
    "gatherMode",
)


def trim_audit(audit_id: str, audit: dict[str, Any]) -> dict[str, Any]:
    """An audit without its description and with items reduced to what assertions read."""
    trimmed = {key: audit[key] for key in AUDIT_KEYS if key in audit}
    items = (audit.get("details") or {}).get("items")
    if isinstance(items, list):
        keep = KEEP_ITEMS.get(audit_id)
        trimmed["details"] = {
            "type": audit["details"].get("type"),
            "items": [{k: item[k] for k in keep if k in item} if keep else {} for item in items],
        }
    return trimmed


def trim(lhr: dict[str, Any]) -> dict[str, Any]:
    """The fixture form of one LHR."""
    out = {key: lhr[key] for key in TOP_KEYS if key in lhr}
    out["configSettings"] = {"formFactor": lhr["configSettings"].get("formFactor")}
    out["audits"] = {k: trim_audit(k, v) for k, v in lhr["audits"].items()}
    out["categories"] = {
        k: {
            "id": v["id"],
            "title": v.get("title"),
            "score": v.get("score"),
            "auditRefs": [
                {key: ref[key] for key in ("id", "weight", "group") if key in ref}
                for ref in v.get("auditRefs", [])
            ],
        }
        for k, v in lhr["categories"].items()
    }
    return out


def main() -> None:
    raw, fixtures = Path(sys.argv[1]), Path(sys.argv[2])
    fixtures.mkdir(parents=True, exist_ok=True)
    for path in sorted(raw.glob("*.json")):
        lhr = json.loads(path.read_text())
        (fixtures / path.name).write_text(json.dumps(trim(lhr), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
