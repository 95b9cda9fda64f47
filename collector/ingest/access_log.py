"""An access log in which a beacon stored whole gets its line only at debug level.

Every request gets an access line by default. Beacons are nearly every request a
collector serves, thousands a second on a busy site, and their lines make the log
mostly lines that say "stored" and cost the hot path the time to render and write
them, while the request-duration histogram and the beacon counters count every
beacon anyway. With ``PERFBEACON_ACCESS_LOG_STORED_BEACONS=false`` a beacon answered
204 (every metric stored; a preflight too) is written only with
``PERFBEACON_LOG_LEVEL=debug``. A beacon with rejected metrics (200) or refused
(4xx, 5xx), which is what an operator looks for, and every request to another route
keep their info line.

>>> access_log = IngestAccessLog(log_format="json", beacon_route="/api/vitals")
"""

from __future__ import annotations

from typing import Any, TextIO

from collector.telemetry.access import AccessLog
from collector.telemetry.logs import LogFormat


class IngestAccessLog(AccessLog):
    """The access log without the lines of beacons answered 204."""

    def __init__(
        self, *, log_format: LogFormat, beacon_route: str, stream: TextIO | None = None
    ) -> None:
        super().__init__(log_format=log_format, stream=stream)
        self._beacon_route = beacon_route

    def request(self, **fields: Any) -> None:
        """Write the request's line, unless it is a beacon stored whole."""
        if fields["status"] == 204 and fields["route"] == self._beacon_route:
            return
        super().request(**fields)
