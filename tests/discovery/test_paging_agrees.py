"""/search and /similar (and the SFX and asset listings) validate limit and offset with one
validator; thumbnail_url is a string everywhere."""

from __future__ import annotations

import pytest

from tonearm.api.errors import AudioScapeError
from tonearm.api.routers.audioscape import _track
from tonearm.api.routers.audioscape_paging import MAX_OFFSET, page_params
from tonearm.storage.base import Asset


@pytest.mark.parametrize(
    ("limit", "offset", "message"),
    [
        (0, None, "Invalid field limit: must be at least 1"),
        ("ten", None, "Invalid field limit: must be a number"),
        (True, None, "Invalid field limit: must be a number"),
        (2.5, None, "Invalid field limit: must be an integer"),
        (None, -1, "Invalid field offset: must be at least 0"),
        (None, 1e30, f"Invalid field offset: at most {MAX_OFFSET}"),
        (None, float("inf"), "Invalid field offset: must be a number"),
    ],
)
def test_one_validator(limit: object, offset: object, message: str) -> None:
    with pytest.raises(AudioScapeError) as e:
        page_params(limit, offset)
    assert e.value.error == message


def test_caps_and_query_text() -> None:
    assert page_params(None, None) == (20, 0)
    assert page_params(500, 3) == (100, 3)
    assert page_params("7", "2", text=True) == (7, 2)
    with pytest.raises(AudioScapeError):
        page_params(None, "1e30", text=True)


def test_similar_and_search_reject_the_same_offset(client, api_key) -> None:  # type: ignore[no-untyped-def]
    h = {"x-api-key": api_key}
    a = client.post("/developer/v1/similar", headers=h, json={"asset_id": "1", "offset": 1e30})
    b = client.post("/developer/v1/search", headers=h, json={"query": "x", "offset": 1e30})
    assert a.status_code == b.status_code == 400
    assert a.json() == b.json() == {"error": f"Invalid field offset: at most {MAX_OFFSET}"}


def test_thumbnail_url_is_a_string_in_similar() -> None:
    a = Asset("1", "music", "n", 1.0, "h", "f", "t", "t", thumbnail_url=None)
    t = _track(a, 0.5)
    assert t["thumbnail_url"] == ""
