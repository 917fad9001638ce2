"""Dependencies shared by the routers: the catalog, and API-key auth per family."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from tonearm.api.errors import AuddError, AudioScapeError, AudjustError
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import verify_key
from tonearm.storage.base import ApiKey


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def audioscape_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    key = verify_key(get_catalog(request).store, x_api_key)
    if key is None:
        raise AudioScapeError(401, "Invalid API key")
    request.state.api_key = key
    return key


def audjust_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    if not x_api_key:
        raise AudjustError(401, "Missing API key header")
    key = verify_key(get_catalog(request).store, x_api_key)
    if key is None:
        raise AudjustError(401, "Invalid API Key")
    request.state.api_key = key
    return key


async def audd_params(request: Request) -> dict[str, object]:
    """AudD takes every parameter by GET or POST, in the query string or the body
    (multipart, urlencoded or JSON). Merged here, body over query; files stay UploadFile."""
    params: dict[str, object] = dict(request.query_params)
    ctype = request.headers.get("content-type", "")
    if request.method == "POST":
        if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            try:
                # base64 `audio` sent as a multipart text field is ~4/3 of the file size;
                # Starlette's 1 MB default per field would refuse a normal excerpt
                settings = get_catalog(request).settings
                form = await request.form(
                    max_part_size=int(settings.recognize_max_bytes * 1.4) + 4096
                )
            except Exception as e:
                # a field over the part limit is an over-sized excerpt, anything else is a
                # body we could not read
                too_big = "maximum size" in str(getattr(e, "detail", e))
                raise AuddError(400 if too_big else 700) from e
            for k, v in form.multi_items():
                params[k] = v
        elif ctype.startswith("application/json"):
            try:
                body = await request.json()
            except Exception:
                body = None
            if isinstance(body, dict):
                params.update(body)
    request.state.form_params = {
        k: v for k, v in params.items() if isinstance(v, str | int | float | bool)
    }
    return params


def audd_key(request: Request, params: dict[str, object], method: str = "recognize") -> ApiKey:
    token = params.get("api_token")
    if not token:
        raise AuddError(901, method=method)
    key = verify_key(get_catalog(request).store, str(token))
    if key is None:
        raise AuddError(900, method=method)
    request.state.api_key = key
    return key


AudioScapeKey = Annotated[ApiKey, Depends(audioscape_key)]
AudjustKey = Annotated[ApiKey, Depends(audjust_key)]
