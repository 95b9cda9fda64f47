"""A seeded corpus of hostile beacon bodies, and mixed batches whose good metrics must be stored.

Every body comes from ``random.Random(seed)``, so a failure names a body that can be
rebuilt: deep nesting, huge numbers, NaN and Infinity, wrong types, invalid UTF-8,
1 MB strings, JSON bombs (wide and repetitive), and batches mixing good metrics with
bad ones.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

NAMES = ["LCP", "INP", "CLS", "FCP", "TTFB", "FID"]
HUGE_NUMBERS = ["1e308", "1e309", "-1e400", "9" * 400, "-0", "1e-400", "0x10", "NaN", "Infinity"]
WRONG_TYPES: list[object] = [None, True, [], {}, "1200", [1200], {"value": 1}, -1, 2**64]


@dataclass
class Hostile:
    """One body to send, and the ids of the good metrics in it that must be stored."""

    body: bytes
    good_ids: set[str] = field(default_factory=set)


def _deep_nesting(rng: random.Random, _n: int) -> Hostile:
    depth = rng.choice([64, 1_000, 20_000, 30_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return Hostile((opener * depth + "1" + closer * depth).encode())


def _huge_number(rng: random.Random, _n: int) -> Hostile:
    number = rng.choice(HUGE_NUMBERS)
    field_name = rng.choice(["value", "delta", "deviceMemory"])
    text = f'[{{"name": "{rng.choice(NAMES)}", "id": "h", "value": 1, "{field_name}": {number}}}]'
    return Hostile(text.encode())


def _wrong_types(rng: random.Random, _n: int) -> Hostile:
    metric: dict[str, object] = {"name": rng.choice(NAMES), "value": 100, "id": "w"}
    metric[rng.choice(["name", "value", "id", "delta", "navigationType", "attribution"])] = (
        rng.choice(WRONG_TYPES)
    )
    shape = rng.choice(["bare", "array", "envelope"])
    body: object = {"bare": metric, "array": [metric], "envelope": {"metrics": metric}}[shape]
    return Hostile(json.dumps(body).encode())


def _invalid_utf8(rng: random.Random, _n: int) -> Hostile:
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    return Hostile(b'[{"name": "LCP", "value": 1, "id": "' + bad + b'"}]')


def _megabyte_string(rng: random.Random, _n: int) -> Hostile:
    size = rng.choice([65_537, 1_000_000])
    return Hostile(b'[{"name": "LCP", "value": 1, "id": "' + b"x" * size + b'"}]')


def _json_bomb(rng: random.Random, _n: int) -> Hostile:
    kind = rng.choice(["wide", "keys", "metrics"])
    if kind == "wide":
        return Hostile(b"[" + b"[]," * 20_000 + b"[]]")
    if kind == "keys":
        keys = ",".join(f'"k{i}": {i}' for i in range(5_000))
        return Hostile(f'{{"metrics": [], {keys}}}'.encode())
    metric = b'{"name":"CLS","value":0.1,"id":"b"},'
    return Hostile(b"[" + metric * 1_500 + b'{"name":"CLS","value":0.1,"id":"b"}]')


def _bad_metric(rng: random.Random) -> object:
    return rng.choice(
        [
            {"name": "LCP", "value": "NaN", "id": "bad"},
            {"name": "LCP", "value": -5, "id": "bad"},
            {"name": "XYZ", "value": 5, "id": "bad"},
            {"name": "INP", "value": 1e12, "id": "bad"},
            {"name": "CLS", "value": 0.1, "id": "i" * 5_000},
            {"name": "LCP", "value": 1, "id": "n", "attribution": [[[[[[[[[[1]]]]]]]]]]},
            {"name": "FCP"},
            None,
            "LCP",
            [1, 2, 3],
        ]
    )


def _mixed_batch(rng: random.Random, n: int) -> Hostile:
    good = [
        {"name": name, "value": rng.uniform(1, 3000), "id": f"good-{n}-{i}", "delta": 1}
        for i, name in enumerate(rng.sample(["LCP", "FCP", "TTFB", "INP"], rng.randint(1, 3)))
    ]
    metrics: list[object] = [*good, *(_bad_metric(rng) for _ in range(rng.randint(1, 3)))]
    rng.shuffle(metrics)
    body: object = {"metrics": metrics} if rng.random() < 0.5 else metrics
    return Hostile(json.dumps(body).encode(), {str(m["id"]) for m in good})


KINDS: list[Callable[[random.Random, int], Hostile]] = [
    _deep_nesting,
    _huge_number,
    _wrong_types,
    _invalid_utf8,
    _megabyte_string,
    _json_bomb,
    _mixed_batch,
    _mixed_batch,
]


def hostile_corpus(seed: int, size: int) -> list[Hostile]:
    """``size`` hostile bodies, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [rng.choice(KINDS)(rng, n) for n in range(size)]
