"""Fuzzing: no input gives a server error (5xx).

- schemathesis generates requests from the app's own OpenAPI spec (in process, ASGI, no
  network), a fixed seed (``derandomize``) and a bounded number of examples per operation;
  the richer the spec's request schemas get, the deeper it reaches.
- hypothesis feeds random bytes and strings to each family's parsers: AudD form,
  multipart and query, Audjust JSON, AudioScape JSON and query.

``TONEARM_FUZZ_EXAMPLES`` sets the examples per operation / per parser test (default 25:
~1,900 requests in under two minutes); the ``slow`` variant, 20x more (~22,000 requests),
runs only with ``TONEARM_FUZZ_LONG=1`` (``make test`` runs slow tests too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tonearm.catalog.context import Catalog  # noqa: E402
from tonearm.catalog.keys import create_key  # noqa: E402
from tonearm.settings import Settings  # noqa: E402

EXAMPLES = int(os.environ.get("TONEARM_FUZZ_EXAMPLES", "25"))
SENT: dict[str, int] = {"requests": 0, "5xx": 0}
_SETTINGS = {
    "deadline": None,
    "derandomize": True,  # a fixed seed: the same requests every run
    "suppress_health_check": list(HealthCheck),
    "database": None,
}


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, TestClient]]:
    from tonearm.api.app import create_app

    data = tmp_path_factory.mktemp("fuzz") / "data"
    s = Settings(
        data=data,
        rate_limits=False,
        workers=0,
        fetch_timeout_s=2.0,
        decode_timeout_s=10,
        max_json_bytes=256 * 1024,
    )
    s.ensure_dirs()
    catalog = Catalog.open(s)
    key, _ = create_key(catalog.store, "fuzz")
    app = create_app(catalog=catalog)
    with TestClient(app, raise_server_exceptions=False) as client:
        # loads the search models once, so no generated request waits for them
        client.post("/developer/v1/search", json={"query": "warm up"}, headers={"x-api-key": key})
        yield app, key, client
    catalog.close()
    print(f"\nfuzz: {SENT['requests']} requests, {SENT['5xx']} server errors")


def _check(r: Any, what: str) -> None:
    SENT["requests"] += 1
    if r.status_code >= 500:
        SENT["5xx"] += 1
    assert r.status_code < 500, f"{what}: HTTP {r.status_code} {r.text[:300]}"


def test_openapi_operations_never_give_5xx(fuzz_env: Any) -> None:
    """Every operation of the spec, ``EXAMPLES`` generated requests each."""
    app, key, _ = fuzz_env
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) > 20  # the spec lists the app's routes

    for op in ops:

        @settings(max_examples=EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            headers = dict(case.headers or {})
            headers.setdefault("x-api-key", key)
            r = case.call(headers=headers, timeout=120)
            _check(r, f"{case.method} {case.formatted_path}")

        run()


# -- the families' parsers, fed directly ----------------------------------------------------
# any code point, lone surrogates included (hypothesis leaves them out by default); half
# of the strings hold one of the characters that broke requests before
_plain = st.text(st.characters(exclude_categories=()), max_size=32)
_special = st.sampled_from(["\ud800", "\udfff", "\udc80", "\x00", "\ufffd", "\u202e", '"'])
text = _plain | st.builds(lambda a, c, b: a + c + b, _plain, _special, _plain)
junk = st.binary(max_size=512)
jsonish = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | text,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4),
    max_leaves=12,
)
AUDJUST_FIELDS = ["sourceFileUrl", "features", "targetLengthSeconds", "resultWebhook",
                  "similarity", "segmentsGroups", "loop", "beats"]  # fmt: skip
AUDIOSCAPE_FIELDS = ["query", "filters", "limit", "offset", "assetId", "kind", "text"]


def _fields(names: list[str], base: dict[str, Any]) -> Any:
    """A valid ``base`` body with up to three fields replaced or added (so most requests
    get past the first check and reach the deeper ones), or any object at all."""
    one = jsonish | st.lists(text, max_size=3) | text
    mutated = st.dictionaries(st.sampled_from(names), one, min_size=1, max_size=3).map(
        lambda d: {**base, **d}
    )
    return mutated | st.dictionaries(st.sampled_from(names) | text, jsonish, max_size=5)


AUDJUST_BASE = {
    "sourceFileUrl": "https://example.com/a.mp3",
    "features": ["beats", "tempo"],
    "targetLengthSeconds": 30,
}
AUDIOSCAPE_BASE = {"query": "warm drums", "filters": {"genres": ["rock"]}, "limit": 5}


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=True).encode()  # \\ud800 escapes stay in the JSON


def _settings(n: int) -> Any:
    return settings(max_examples=n, **_SETTINGS)  # type: ignore[arg-type]


def _parser_tests(n: int) -> None:
    @_settings(n)
    @given(body=_fields(AUDJUST_FIELDS, AUDJUST_BASE), raw=junk, path=st.sampled_from(
        ["/analyze", "/resize", "/loop", "/export"]))  # fmt: skip
    def audjust(fuzz_env: Any, body: Any, raw: bytes, path: str) -> None:
        _, key, client = fuzz_env
        h = {"x-api-key": key, "content-type": "application/json"}
        _check(client.post(path, content=_json_bytes(body), headers=h), path)
        _check(client.post(path, content=raw, headers=h), path)

    @_settings(n)
    @given(body=_fields(AUDIOSCAPE_FIELDS, AUDIOSCAPE_BASE), raw=junk, q=text, path=st.sampled_from(
        ["/developer/v1/search", "/developer/v1/similar"]))  # fmt: skip
    def audioscape(fuzz_env: Any, body: Any, raw: bytes, q: str, path: str) -> None:
        _, key, client = fuzz_env
        h = {"x-api-key": key, "content-type": "application/json"}
        _check(client.post(path, content=_json_bytes(body), headers=h), path)
        _check(client.post(path, content=raw, headers=h), path)
        qs = "q=" + quote(q.encode("utf-8", "surrogatepass"))
        _check(client.get("/developer/v1/assets?" + qs, headers={"x-api-key": key}), "assets")

    @_settings(n)
    @given(
        fields=st.dictionaries(
            st.sampled_from(
                [
                    "api_token",
                    "url",
                    "audio",
                    "method",
                    "return",
                    "radio_id",
                    "callbacks",
                    "audio_id",
                    "skip",
                    "every",
                    "limit",
                ]
            )
            | text,
            text,
            max_size=5,
        ),  # fmt: skip
        raw=junk,
        file=junk,
    )
    def audd(fuzz_env: Any, fields: dict[str, str], raw: bytes, file: bytes) -> None:
        _, key, client = fuzz_env
        fields = {**fields, "api_token": fields.get("api_token", key)}
        enc = {k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass")
               for k, v in fields.items()}  # fmt: skip
        form = "&".join(quote(k) + "=" + quote(v) for k, v in enc.items()).encode()
        ctype = {"content-type": "application/x-www-form-urlencoded"}
        _check(client.post("/", content=form, headers=ctype), "audd form")
        _check(client.post("/", content=raw, headers=ctype), "audd raw form")
        parts = (
            b"".join(
                b'--B\r\nContent-Disposition: form-data; name="'
                + k.replace(b'"', b"")
                + b'"\r\n\r\n'
                + v
                + b"\r\n"
                for k, v in enc.items()
            )
            + b'--B\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
            + file
        )
        mp = {"content-type": "multipart/form-data; boundary=B"}
        _check(client.post("/", content=parts + b"\r\n--B--\r\n", headers=mp), "audd multipart")
        _check(client.post("/", content=raw, headers=mp), "audd raw multipart")
        _check(client.get("/?" + form.decode()), "audd query")
        _check(client.post("/", content=_json_bytes(fields),
                           headers={"content-type": "application/json"}), "audd json")  # fmt: skip

    globals()["_run"] = {"audjust": audjust, "audioscape": audioscape, "audd": audd}


@pytest.mark.parametrize("family", ["audjust", "audioscape", "audd"])
def test_family_parsers_never_give_5xx(fuzz_env: Any, family: str) -> None:
    _parser_tests(EXAMPLES * 4)
    globals()["_run"][family](fuzz_env)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("TONEARM_FUZZ_LONG"),
    reason="the long fuzz (~22,000 requests, ~11 min) runs with TONEARM_FUZZ_LONG=1",
)
@pytest.mark.parametrize("family", ["audjust", "audioscape", "audd"])
def test_family_parsers_never_give_5xx_long(fuzz_env: Any, family: str) -> None:
    _parser_tests(EXAMPLES * 80)
    globals()["_run"][family](fuzz_env)
