"""Unknown paths answer 404: only AudD's own paths answer AudD errors, a typo under
/developer/ is AudioScape's 404, and no error text sends users to audd.io."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tonearm.api.errors import AUDD_MESSAGES


def test_unknown_paths_are_404(client: TestClient, api_key: str) -> None:
    for path in ("/foo", "/metricz", "/foo/bar"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.json() == {"error": "Not Found"}
    r = client.post("/developer/v1/searchh", headers={"x-api-key": api_key}, json={})
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    r = client.post("/analyzee", headers={"x-api-key": api_key}, json={})
    assert r.status_code == 404 and r.json()["success"] is False


def test_audd_paths_still_answer_audd_errors(client: TestClient) -> None:
    r = client.post("/", data={"api_token": "nope"})
    assert r.status_code == 200 and r.json()["error"]["error_code"] == 900
    r = client.post("/getStreams/", data={"api_token": "nope"})
    assert r.json()["error"]["error_code"] == 900


def test_no_error_text_points_at_audd_io(client: TestClient) -> None:
    assert not any("audd.io" in m or "contact us" in m.lower() for m in AUDD_MESSAGES.values())
    body = client.post("/", data={"api_token": "nope"}).json()
    assert "audd.io" not in json.dumps(body)


def test_enterprise_limit_error_uses_audd_fixture_fields() -> None:
    from tonearm.api.errors import audd_error_body

    body = audd_error_body(902, "limit", {"api_token": "abcdef"}, "enterprise", "POST")
    fixture = json.loads(
        '{"status": "error", "error": {"error_code": 904, "error_message": "x"},'
        ' "requested_params": {}, "see api documentation": "", "contact us": "",'
        ' "execution_time": "1ms"}'
    )  # the shape of /work/shared/reference/audd/fixtures/error_904_enterprise_unauthorized
    assert "request_params" not in body and "request_api_method" not in body
    assert set(body) <= set(fixture) and body["requested_params"]["api_token"] == "a***f"
