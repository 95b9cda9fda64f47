"""Write the generated assets of the fixture site: big unminified, mostly unused JS and CSS,
and an oversized PNG, so the heavy page fails many Lighthouse audits."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site" / "v1"


def png(width: int, height: int) -> bytes:
    """An RGB gradient PNG, compressed lightly so it stays big."""
    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(width * 3)) for y in range(height)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    functions = "\n".join(
        f"function unusedHelper{i}(value) {{\n    var total = 0;\n"
        f"    for (var k = 0; k < value; k++) {{ total += k * {i}; }}\n    return total;\n}}"
        for i in range(2500)
    )
    (SITE / "big.js").write_text(functions + "\nwindow.ready = true;\n")
    rules = "\n".join(
        f".unused-rule-{i} {{\n    color: #{i % 4096:03x};\n    margin: {i % 17}px;\n}}"
        for i in range(4000)
    )
    (SITE / "big.css").write_text(rules + "\nbody { font-family: serif; }\n")
    (SITE / "hero.png").write_bytes(png(1600, 1600))


if __name__ == "__main__":
    main()
