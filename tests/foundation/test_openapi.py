"""The OpenAPI document is complete: request and response models for every family,
security schemes, the family's real error answers and no 422 (never sent)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tonearm.api.openapi import OPERATIONS, SimilarResponse


def test_every_family_has_request_and_response_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for (method, path), (req, _, resp, _) in OPERATIONS.items():
        op = paths[path][method]
        if req is not None:
            content = op["requestBody"]["content"]
            assert all("$ref" in c["schema"] for c in content.values()), path
        ok = json.dumps(op["responses"]["200"])
        assert resp.__name__ in ok, path
    search = paths["/developer/v1/search"]["post"]["requestBody"]["content"]
    ref = search["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][ref]["properties"]["query"]["examples"]
    resize = paths["/resize"]["post"]["requestBody"]["content"]["application/json"]
    assert resize["example"]["targetLengthSeconds"] == 30  # the seed's example is kept


def test_security_schemes_and_real_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {
        **schemes["ApiKeyHeader"],
        "in": "header",
        "name": "x-api-key",
    }
    assert schemes["AuddToken"]["name"] == "api_token"
    text = json.dumps(spec)
    assert '"422"' not in text and "HTTPValidationError" not in text
    sim = spec["paths"]["/developer/v1/similar"]["post"]
    assert sim["security"] == [{"ApiKeyHeader": []}]
    assert {"400", "401", "404", "429"} <= set(sim["responses"])
    assert "AudioScapeRateLimited" in json.dumps(sim["responses"]["429"])
    analyze = spec["paths"]["/analyze"]["post"]["responses"]
    assert "AudjustErrorBody" in json.dumps(analyze["400"])
    audd = spec["paths"]["/"]["post"]
    assert audd["security"] == [{"AuddToken": []}]
    assert "AuddErrorBody" in json.dumps(audd["responses"]["200"])


def test_validation_errors_keep_each_family_format(client: TestClient, api_key: str) -> None:
    h = {"x-api-key": api_key}
    r = client.post("/developer/v1/similar", headers=h, json={})
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = client.post("/analyze", headers=h, json={})
    assert r.status_code == 400 and r.json()["success"] is False


def test_the_similar_model_reads_a_real_answer() -> None:
    SimilarResponse.model_validate(
        {
            "tracks": [
                {"asset_id": "1", "name": "n", "artist": "a", "album": "", "duration": 1.0,
                 "genre": "g", "bpm": 120, "score": 0.9, "thumbnail_url": ""}
            ],
            "meta": {"total": 1, "limit": 20, "offset": 0},
        }
    )  # fmt: skip
