"""Dependencies shared by the routers: the catalog, and API-key auth per family.

Every authenticated route names the scope it needs with a ``Scoped`` dependency of its
family (``AudioScapeScoped("write")``, ``AudjustScoped("read")``); AudD's methods share
routes (``/?method=upload``), so its scope is per method (``AUDD_METHOD_SCOPES``), checked
by :func:`audd_key`. A key without the scope gets 403 in its family's format (AudD: error
904 in a 200, "the token doesn't have access").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from tonearm.api.errors import AuddError, AudioScapeError, AudjustError
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import SCOPES, verify_key
from tonearm.storage.base import ApiKey


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def missing_scope(scope: str) -> str:
    return f"This API key lacks the '{scope}' scope"


class Scoped:
    """Dependency: the request's key, which must hold ``scope``. ``.scope`` says which
    (the route test reads it)."""

    family = ""

    def __init__(self, scope: str) -> None:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        self.scope = scope

    def check(self, key: ApiKey) -> ApiKey:
        if self.scope not in key.scopes:
            raise self.forbidden()
        return key

    def forbidden(self) -> Exception:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scope!r})"


class AudioScapeScoped(Scoped):
    family = "audioscape"

    def __call__(
        self, request: Request, x_api_key: Annotated[str | None, Header()] = None
    ) -> ApiKey:
        return self.check(audioscape_key(request, x_api_key))

    def forbidden(self) -> Exception:
        return AudioScapeError(403, missing_scope(self.scope))


class AudjustScoped(Scoped):
    family = "audjust"

    def __call__(
        self, request: Request, x_api_key: Annotated[str | None, Header()] = None
    ) -> ApiKey:
        return self.check(audjust_key(request, x_api_key))

    def forbidden(self) -> Exception:
        return AudjustError(403, missing_scope(self.scope))


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


# the scope each AudD method needs (its routes are shared: ``/?method=...``)
AUDD_METHOD_SCOPES: dict[str, str] = {
    "recognize": "read",
    "upload": "write",
    "addStream": "read",
    "getStreams": "read",
    "setStreamUrl": "read",
    "deleteStream": "read",
    "setCallbackUrl": "read",
    "getCallbackUrl": "read",
}  # longpoll takes no key: as on AudD, its category (derived from the token) is the secret


def audd_key(request: Request, params: dict[str, object], method: str = "recognize") -> ApiKey:
    token = params.get("api_token")
    if not token:
        raise AuddError(901, method=method)
    key = verify_key(get_catalog(request).store, str(token))
    if key is None:
        raise AuddError(900, method=method)
    request.state.api_key = key
    # fail closed: a method nobody gave a scope is for admins until it has one
    scope = AUDD_METHOD_SCOPES.get(method, "admin")
    if scope not in key.scopes:
        raise AuddError(904, f"authorization failed: {missing_scope(scope)}.", method=method)
    return key


def key_tenant(key: ApiKey) -> str | None:
    """The tenant whose assets (plus the shared catalog) this key sees."""
    return key.tenant


def can_change(key: ApiKey, asset_tenant: str | None) -> bool:
    """A key changes only its own account's assets (the operator's: the shared catalog)."""
    return "write" in key.scopes and asset_tenant == key.tenant


def can_see(key: ApiKey, asset_tenant: str | None) -> bool:
    return asset_tenant is None or asset_tenant == key.tenant


AudioScapeKey = Annotated[ApiKey, Depends(AudioScapeScoped("read"))]
AudioScapeWriter = Annotated[ApiKey, Depends(AudioScapeScoped("write"))]
AudjustKey = Annotated[ApiKey, Depends(AudjustScoped("read"))]
