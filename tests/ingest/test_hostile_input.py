"""Hostile bodies never get a 5xx, and never cost the good beacons sent beside them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from tests.ingest.conftest import beacon, post_beacon, stored
from tests.ingest.hostile_corpus import hostile_corpus

EXPECTED_STATUSES = {200, 204, 400, 403, 404, 413, 415}
NUL = "\x00"

HOSTILE_BODIES: list[bytes] = [
    b"",
    b"\x00" * 100,
    b"null",
    b"true",
    b"0",
    b"-1e999",
    b"[" * 10_000 + b"]" * 10_000,  # nesting far past any real beacon
    b'{"metrics": [' + b"{}," * 5000 + b"{}]}",
    b'[{"name": "LCP", "value": 1e400}]',
    b'[{"name": "LCP", "value": 1, "id": "\\u0000"}]',
    b'[{"name": "LCP", "value": 1, "id": "\\ud800"}]',
    b'[{"name": "LCP", "value": 1, "id": "a", "page": "/\\u0000"}]',
    b'[{"name": "LCP", "value": 1, "id": "a", "navigationURL": "http://[::1"}]',
    b'[{"name": "LCP", "value": 1, "id": "a", "navigationType": "\\u0000"}]',
    b'[{"name": "INP", "value": 1, "id": "a", "attribution": {"longestScript": {"entry": 5}}}]',
    b'[{"name": "INP", "value": 1, "id": "a", "attribution": {"interactionTarget": "\\u0000"}}]',
    b'{"site": "\\u0000", "metrics": []}',
    b'{"site": 7, "metrics": []}',
    b'{"site": "' + b"k" * 10_000 + b'", "metrics": []}',
    b'{"metrics": [{"name": "CLS", "value": 0.1, "id": "a"}], "deviceMemory": "lots"}',
    b'{"metrics": [{"name": "CLS", "value": 0.1, "id": "a"}], "connection": 5}',
    b'{"name": "LCP", "value": 1, "id": "x", "name": "CLS"}',
    '[{"name": "LCP", "value": 1, "id": "\u00e9\u6f22\U0001f600"}]'.encode(),
    b"\xef\xbb\xbf[]",  # a UTF-8 byte order mark
]

json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)
metric_like = st.fixed_dictionaries(
    {"name": st.sampled_from(["LCP", "INP", "CLS", "FCP", "TTFB", "FID", "XYZ"])},
    optional={
        "value": json_values,
        "delta": json_values,
        "id": st.text(max_size=150) | json_values,
        "navigationType": st.text(max_size=40) | json_values,
        "navigationURL": st.text(max_size=100) | json_values,
        "navigationId": json_values,
        "page": st.text(max_size=100) | json_values,
        "connection": json_values,
        "deviceMemory": json_values,
        "attribution": st.dictionaries(
            st.sampled_from(["target", "url", "inputDelay", "longestScript", "loadState"]),
            json_values,
        )
        | json_values,
    },
)


async def _post_raw(client: httpx.AsyncClient, key: str, content: bytes) -> httpx.Response:
    return await post_beacon(client, content, key=key)


def _assert_clean_answer(response: httpx.Response) -> None:
    assert response.status_code in EXPECTED_STATUSES, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"}


async def test_the_hostile_corpus_gets_4xx_and_good_beacons_beside_it_are_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    good = beacon("v5-attribution")
    # Sent concurrently, so hostile and good beacons share writer batches.
    responses = await asyncio.gather(
        *(_post_raw(client, site.key, body) for body in HOSTILE_BODIES),
        post_beacon(client, good, key=site.key),
    )
    for response in responses:
        _assert_clean_answer(response)
    assert responses[-1].status_code == 204
    stored_ids = {r.metric_id for r in await stored(engine)}
    assert {m["id"] for m in good} <= stored_ids


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
async def test_random_bodies_never_get_a_5xx(
    client: httpx.AsyncClient, site: CreatedSite, body: bytes
) -> None:
    _assert_clean_answer(await _post_raw(client, site.key, body))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(metrics=st.lists(metric_like, min_size=1, max_size=4), wrap=st.booleans())
async def test_random_metric_shaped_beacons_never_get_a_5xx(
    client: httpx.AsyncClient, site: CreatedSite, metrics: list[dict[str, Any]], wrap: bool
) -> None:
    body: object = {"site": site.key, "metrics": metrics} if wrap else metrics
    _assert_clean_answer(await post_beacon(client, body, key=site.key))


CORPUS_SEED = 20_261_126
CORPUS_SIZE = 1_000


async def test_a_seeded_corpus_of_a_thousand_hostile_bodies_gets_no_5xx(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    corpus = hostile_corpus(CORPUS_SEED, CORPUS_SIZE)
    statuses: Counter[int] = Counter()
    for start in range(0, len(corpus), 25):
        # Concurrent, so hostile and good metrics share writer batches.
        chunk = corpus[start : start + 25]
        answers = await asyncio.gather(*(_post_raw(client, site.key, h.body) for h in chunk))
        for answer in answers:
            _assert_clean_answer(answer)
            statuses[answer.status_code] += 1
    assert not [status for status in statuses if status >= 500]
    good = set().union(*(hostile.good_ids for hostile in corpus))
    assert len(good) > 100
    missing = good - {record.metric_id for record in await stored(engine)}
    assert not missing, f"{len(missing)} good metrics of mixed batches were not stored"
