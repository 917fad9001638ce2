"""The OpenAPI document: real request and response models, security schemes and the error
answers each family really gives.

The routers read their bodies themselves (each family validates its own wire format and
answers in its own error shape), so FastAPI cannot infer the schemas. The models below are
documentation only: ``complete_openapi`` writes them into the generated document by
(method, path) and never changes what a route accepts or returns. It also

- declares the security schemes (``x-api-key`` header; AudD's ``api_token`` as a query or
  form parameter) so Swagger UI's Authorize button works;
- replaces FastAPI's 422 (never sent: validation errors are each family's 400, or AudD's
  error object in a 200) by the 400/401/403/404/413/429 answers in the family's shape.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

# -- errors -----------------------------------------------------------------------------------


class AudioScapeErrorBody(BaseModel):
    """AudioScape's error answer (every status but 429)."""

    error: str = Field(examples=["Missing required field: query"])


class AudioScapeRateLimited(BaseModel):
    """AudioScape's 429: ``Too Many Requests`` (rate) or ``Quota exceeded: ...`` (credits)."""

    message: str = Field(examples=["Too Many Requests"])


class AudjustErrorBody(BaseModel):
    success: Literal[False] = False
    message: str = Field(examples=["Missing parameter: sourceFileUrl"])


class AuddErrorDetail(BaseModel):
    error_code: int = Field(examples=[900])
    error_message: str


class AuddErrorBody(BaseModel):
    """AudD's error object, sent with HTTP 200 like every AudD answer. The enterprise
    endpoint names the echoed parameters ``requested_params`` (as AudD does)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["error"] = "error"
    error: AuddErrorDetail
    request_params: dict[str, Any] | None = None
    requested_params: dict[str, Any] | None = None
    request_api_method: str | None = None
    request_http_method: str | None = None


# -- AudioScape -------------------------------------------------------------------------------


class DurationFilter(BaseModel):
    min: float | None = Field(None, description="seconds")
    max: float | None = Field(None, description="seconds")


class RangeFilter(BaseModel):
    min: float | None = None
    max: float | None = None


SortOrder = Literal["score", "duration_asc", "duration_desc"]


class MusicFilters(BaseModel):
    genres: list[str] | None = None
    duration: DurationFilter | None = None
    # tonearm extensions (docs/API.md)
    bpm: RangeFilter | None = Field(None, description="tonearm extension: tempo range, BPM")
    key: str | list[str] | None = Field(
        None, description='tonearm extension: key(s), e.g. "A minor", "F# major", "Eb"'
    )
    loudness: RangeFilter | None = Field(
        None, description="tonearm extension: integrated loudness range, LUFS"
    )
    instrumental: bool | None = Field(
        None, description="tonearm extension: true: no vocals heard; false: vocals"
    )


class SearchRequest(BaseModel):
    query: str = Field(examples=["upbeat summer vibes"])
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)
    filters: MusicFilters | None = None
    min_score: float = Field(
        0.2, ge=0, le=1, description="tonearm extension: drop results scoring below this"
    )
    sort: SortOrder = Field("score", description="tonearm extension: order of the results")


class SimilarRequest(BaseModel):
    asset_id: str = Field(examples=["1843521234"])
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)
    filters: MusicFilters | None = None
    sort: SortOrder = Field("score", description="tonearm extension: order of the results")


class Track(BaseModel):
    asset_id: str
    name: str
    artist: str | None
    album: str | None
    duration: float
    genre: str | None
    bpm: float | None
    score: float
    thumbnail_url: str = ""


class Meta(BaseModel):
    total: int
    limit: int
    offset: int


class SearchMeta(Meta):
    search_method: Literal["semantic", "text"]
    matched_artist: str | None = None
    # tonearm extensions: absolute scores (docs/API.md)
    min_score: float | None = Field(None, description="tonearm extension: the floor applied")
    best_score: float | None = Field(
        None, description="tonearm extension: best absolute score of any match (null: none)"
    )
    no_good_match: bool | None = Field(
        None, description="tonearm extension: true when no track scores .5 or more"
    )


class ArtistCount(BaseModel):
    name: str
    track_count: int


class AlbumCount(BaseModel):
    name: str
    artist: str
    track_count: int


class SimilarResponse(BaseModel):
    tracks: list[Track]
    meta: Meta


class SearchResponse(BaseModel):
    tracks: list[Track]
    artists: list[ArtistCount]
    albums: list[AlbumCount]
    meta: SearchMeta


class SfxClip(BaseModel):
    model_config = ConfigDict(extra="allow")
    asset_id: int | str
    name: str
    description: str | None
    category: str | None
    subcategory: str | None
    tags: str | None
    duration: float
    score: float
    created_at: str | None
    updated_at: str | None
    creator_id: int | None
    creator_name: str | None
    true_peak_dbtp: float | None = None
    sound_start_sec: float | None = None
    sound_end_sec: float | None = None


class SfxSimilarResponse(BaseModel):
    tracks: list[SfxClip]
    meta: Meta


# -- Audjust ----------------------------------------------------------------------------------


class AnalyzeRequest(BaseModel):
    sourceFileUrl: str = Field(examples=["https://example.com/sample.mp3"])
    features: list[str] | None = Field(None, description="raw audio features to include")
    resultWebhook: str | None = Field(None, examples=["https://example.com/audjust-webhook"])


class Queued(BaseModel):
    success: Literal[True] = True
    message: str = Field(examples=["Request queued."])
    requestId: str
    resultUrl: str


class Similarity(BaseModel):
    data: str
    min: float
    max: float


class ResizeRequest(BaseModel):
    """``similarity`` and ``boundaries`` are what ``/analyze`` returns."""

    targetLengthSeconds: float = Field(examples=[30])
    similarity: Similarity
    boundaries: list[float]
    resultWebhook: str | None = None
    loop: bool | None = Field(None, description="tonearm extension: seamless loops")


class ResizeResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    segments: list[list[float]]


class ResizeResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool
    requestId: str
    result: list[ResizeResult]
    creditCost: float


class ExportRequest(BaseModel):
    sourceFileUrl: str = Field(examples=["https://example.com/sample.mp3"])
    exportFormat: Literal["mp3_128", "mp3_256", "mp3_320", "wav"]
    segmentsGroups: list[list[list[float]]] = Field(
        examples=[[[[0, 29.77], [171.36, 175.24]], [[0, 5.15], [145.57, 175.24]]]]
    )
    resultWebhook: str = Field(examples=["https://example.com/audjust-webhook"])
    loop: bool | None = None
    exactLengthSeconds: float | None = None


class RequestStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: Literal[True] = True
    requestId: str
    status: str = Field(examples=["queued", "running", "succeeded", "failed"])
    result: dict[str, Any] | None = None


class UploadResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: Literal[True] = True
    message: str = Field(examples=["File uploaded."])
    sourceFileUrl: str


class AudjustUploadForm(BaseModel):
    file: bytes = Field(json_schema_extra={"format": "binary"})


# -- AudD -------------------------------------------------------------------------------------


class RecognizeForm(BaseModel):
    """Every parameter may also be sent in the query string (AudD takes both)."""

    api_token: str | None = None
    url: str | None = Field(None, examples=["https://audd.tech/example.mp3"])
    file: bytes | None = Field(None, json_schema_extra={"format": "binary"})
    audio: str | None = Field(None, description="the file, base64-encoded")
    return_: str | None = Field(None, alias="return", examples=["apple_music,spotify"])
    market: str | None = None


class EnterpriseForm(RecognizeForm):
    skip: int | None = None
    every: int | None = None
    limit: int | None = None
    skip_first_seconds: int | None = None
    accurate_offsets: bool | None = None


class UploadForm(BaseModel):
    api_token: str | None = None
    audio_id: int
    url: str | None = None
    file: bytes | None = Field(None, json_schema_extra={"format": "binary"})


class RecognitionResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    artist: str
    title: str
    album: str | None = None
    release_date: str | None = None
    label: str | None = None
    timecode: str
    song_link: str | None = None
    audio_id: int | None = None


class RecognizeResponse(BaseModel):
    status: Literal["success"] = "success"
    result: RecognitionResult | None


class EnterpriseChunk(BaseModel):
    model_config = ConfigDict(extra="allow")
    songs: list[RecognitionResult]
    offset: str


class EnterpriseResponse(BaseModel):
    status: Literal["success"] = "success"
    result: list[EnterpriseChunk]
    execution_time: str | None = None


class AuddSuccess(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: Literal["success"] = "success"
    result: Any = None


# -- which operation gets which -----------------------------------------------------------------

JSON = "application/json"
FORM = ("multipart/form-data", "application/x-www-form-urlencoded")

_RECOGNIZE_EXAMPLE = {
    "status": "success",
    "result": {
        "artist": "Imagine Dragons",
        "title": "Warriors",
        "album": "Warriors",
        "release_date": "2014-09-18",
        "label": "Universal Music",
        "timecode": "00:40",
        "song_link": "https://lis.tn/Warriors",
    },
}

# (method, path) -> (request model, content types, response model, example answer)
OPERATIONS: dict[tuple[str, str], tuple[type[BaseModel] | None, tuple[str, ...], Any, Any]] = {
    ("post", "/developer/v1/search"): (SearchRequest, (JSON,), SearchResponse, None),
    ("post", "/developer/v1/similar"): (SimilarRequest, (JSON,), SimilarResponse, None),
    ("get", "/developer/v1/sfx/similar"): (None, (), SfxSimilarResponse, None),
    ("post", "/analyze"): (AnalyzeRequest, (JSON,), Queued, None),
    ("post", "/resize"): (ResizeRequest, (JSON,), ResizeResponse, None),
    ("post", "/loop"): (ResizeRequest, (JSON,), ResizeResponse, None),
    ("post", "/export"): (ExportRequest, (JSON,), Queued, None),
    ("get", "/requests/{request_id}"): (None, (), RequestStatus, None),
    ("post", "/upload"): (AudjustUploadForm, ("multipart/form-data",), UploadResponse, None),
    ("post", "/"): (RecognizeForm, FORM, RecognizeResponse, _RECOGNIZE_EXAMPLE),
    ("post", "/recognize"): (RecognizeForm, FORM, RecognizeResponse, _RECOGNIZE_EXAMPLE),
    ("post", "/enterprise/"): (EnterpriseForm, FORM, EnterpriseResponse, None),
    ("post", "/upload/"): (UploadForm, FORM, AuddSuccess, {"status": "success", "result": None}),
}

_ERROR_TEXT = {
    400: "Bad request: missing or invalid parameters",
    401: "Missing or invalid API key",
    403: "The key may not do this",
    404: "Not found",
    413: "Request body too large",
    429: "Rate limit or credit quota exceeded",
}

_MODELS: tuple[type[BaseModel], ...] = (
    AudioScapeErrorBody,
    AudioScapeRateLimited,
    AudjustErrorBody,
    AuddErrorBody,
)

SECURITY_SCHEMES = {
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "AudioScape and Audjust endpoints, the web UI's API and /usage",
    },
    "AuddToken": {
        "type": "apiKey",
        "in": "query",
        "name": "api_token",
        "description": "AudD endpoints (also accepted as a form field)",
    },
    "AdminToken": {"type": "http", "scheme": "bearer", "description": "/admin endpoints"},
}


def _family(path: str) -> str:
    from tonearm.api.errors import AUDIOSCAPE_PREFIX, AUDJUST_PREFIXES

    if path.startswith(AUDIOSCAPE_PREFIX):
        return "audioscape"
    if path.startswith(AUDJUST_PREFIXES) or path == "/upload":
        return "audjust"
    if path.startswith(("/ui", "/usage")):
        return "ui"
    if path.startswith("/admin"):
        return "admin"
    if path.startswith("/healthz") or path.startswith(("/readyz", "/metrics")):
        return "system"
    return "audd"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _add_schema(components: dict[str, Any], model: Any) -> dict[str, Any]:
    """Put ``model`` (a pydantic model) into components; its reference."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return _ref(model)


def _error_responses(family: str, responses: dict[str, Any]) -> None:
    if family == "audioscape":
        for code in (400, 401, 404, 413, 429):
            model: type[BaseModel] = AudioScapeRateLimited if code == 429 else AudioScapeErrorBody
            responses.setdefault(
                str(code),
                {"description": _ERROR_TEXT[code], "content": {JSON: {"schema": _ref(model)}}},
            )
    elif family in ("audjust", "ui", "admin"):
        for code in (400, 401, 403, 404, 413, 429):
            schema = _ref(AudjustErrorBody) if family == "audjust" else _ref(AudioScapeErrorBody)
            responses.setdefault(
                str(code), {"description": _ERROR_TEXT[code], "content": {JSON: {"schema": schema}}}
            )
    elif family == "audd":
        ok = responses.setdefault("200", {"description": "Successful Response"})
        content = ok.setdefault("content", {}).setdefault(JSON, {})
        success = content.get("schema") or {"type": "object"}
        content["schema"] = {"oneOf": [success, _ref(AuddErrorBody)]}
        ok["description"] = (
            "The result, or AudD's error object (AudD answers every error with HTTP 200)"
        )


def complete_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with models, examples, security and real errors."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for m in _MODELS:
        _add_schema(schemas, m)
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, ops in spec.get("paths", {}).items():
        family = _family(path)
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)  # never sent: each family answers its own 400
            known = OPERATIONS.get((method, path))
            if known is not None:
                req, ctypes, resp, example = known
                if req is not None:
                    ref = _add_schema(schemas, req)
                    op["requestBody"] = {
                        "required": True,
                        "content": {
                            c: {
                                "schema": ref,
                                **(
                                    {"example": old}
                                    if (
                                        old := op.get("requestBody", {})
                                        .get("content", {})
                                        .get(c, {})
                                        .get("example")
                                    )
                                    is not None
                                    else {}
                                ),
                            }
                            for c in ctypes
                        },
                    }
                ok = responses.setdefault("200", {"description": "Successful Response"})
                content = ok.setdefault("content", {}).setdefault(JSON, {})
                content["schema"] = _add_schema(schemas, resp)
                if example is not None:
                    content["example"] = example
            _error_responses(family, responses)
            if family in ("audioscape", "audjust", "ui"):
                # the key comes through the security scheme (Authorize), not a parameter
                op["parameters"] = [
                    p for p in op.get("parameters", []) if p.get("name", "").lower() != "x-api-key"
                ] or None
                if op["parameters"] is None:
                    del op["parameters"]
                op["security"] = [{"ApiKeyHeader": []}]
            elif family == "audd":
                op["security"] = [{"AuddToken": []}]
            elif family == "admin":
                op["security"] = [{"AdminToken": []}]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = spec
    return spec


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: complete_openapi(app)  # type: ignore[method-assign]
