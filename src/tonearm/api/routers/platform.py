"""Platform API: key administration (admin token or admin key) and usage per key.

- ``POST /admin/keys``, ``GET /admin/keys``, ``PATCH /admin/keys/{key}``,
  ``DELETE /admin/keys/{key}``, ``GET /admin/tiers``, ``GET /admin/usage/{key}``:
  ``Authorization: Bearer $TONEARM_ADMIN_TOKEN`` (or ``X-Admin-Token``), or ``X-API-Key``
  of a key with the ``admin`` scope. Without either the admin API answers 401/403.
- ``GET /usage``: the calling key's tier, credits used in the last 30 days, requests per
  endpoint (count, errors, credits, duration) and its recent requests with their status.
  The key goes in ``X-API-Key`` or ``api_token`` (as its family sends it); an admin may
  pass ``?key=<id|prefix|name>``.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field

from tonearm.api.deps import Scoped, missing_scope
from tonearm.catalog.keys import account_name, parse_scopes, verify_key
from tonearm.platform.service import Platform, get_platform
from tonearm.platform.tiers import TIERS
from tonearm.storage.base import ApiKey

router = APIRouter(tags=["platform"])


def PlatformError(status: int, message: str) -> HTTPException:  # noqa: N802
    """Errors of the platform API: ``{"error": message}`` (the app's system-path format)."""
    return HTTPException(status, message)


def _platform(request: Request) -> Platform:
    p = getattr(request.app.state, "platform", None)
    return p if p is not None else get_platform(request.app.state.catalog)


def _admin_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-admin-token")


def is_admin(request: Request) -> bool:
    expected = request.app.state.settings.admin_token
    presented = _admin_token(request)
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


class AdminScoped(Scoped):
    """The admin API: the operator's admin token, or an API key (``X-API-Key``) with the
    ``admin`` scope. Answers in the platform API's format (``{"error": ...}``)."""

    family = "platform"

    def __call__(self, request: Request) -> ApiKey | None:
        if _admin_token(request) is not None:
            if not request.app.state.settings.admin_token:
                raise PlatformError(
                    403, "The admin API is off: set TONEARM_ADMIN_TOKEN to enable it"
                )
            if not is_admin(request):
                raise PlatformError(401, "Invalid admin token")
            return None
        presented = request.headers.get("x-api-key")
        if presented:
            rec = verify_key(_platform(request).store, presented)
            if rec is None:
                raise PlatformError(401, "Invalid API key")
            request.state.api_key = rec
            return self.check(rec)
        if not request.app.state.settings.admin_token:
            raise PlatformError(
                403,
                "The admin API is off: set TONEARM_ADMIN_TOKEN to enable it, "
                "or use a key with the admin scope (X-API-Key)",
            )
        raise PlatformError(401, "Missing admin token (Authorization: Bearer <token>)")

    def forbidden(self) -> Exception:
        return PlatformError(403, missing_scope(self.scope))


ADMIN = AdminScoped("admin")


def require_admin(request: Request) -> None:
    ADMIN(request)


def _key_public(k: ApiKey, platform: Platform) -> dict[str, Any]:
    lim = platform.limits(k)
    return {
        "id": k.key_id,
        "name": k.name,
        "prefix": k.prefix,
        "tier": k.tier,
        "scopes": [s for s in ("read", "write", "admin") if s in k.scopes],
        "account": account_name(k),
        "requestsPerMinute": lim.rate_limit_per_min,
        "monthlyCredits": lim.monthly_credits,
        "createdAt": k.created_at,
        "revokedAt": k.revoked_at,
        "active": k.revoked_at is None,
    }


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tier: str = "free"
    scopes: list[str] | None = Field(
        default=None, description="read, write and/or admin (default: read)"
    )
    account: str | None = Field(
        default=None,
        description="The account (tenant) the key acts for; 'operator': the shared catalog's "
        "owner; default: a new account of its own",
    )
    requestsPerMinute: int | None = Field(
        default=None, description="Override the tier's limit (<= 0: no limit)"
    )
    monthlyCredits: int | None = Field(
        default=None, description="Override the tier's credits per 30 days (< 0: unlimited)"
    )


class KeyChange(BaseModel):
    tier: str | None = None
    scopes: list[str] | None = None
    requestsPerMinute: int | None = None
    monthlyCredits: int | None = None


@router.get("/admin/tiers", dependencies=[Depends(ADMIN)])
def list_tiers(request: Request) -> dict[str, Any]:
    """The tiers and their limits."""
    return {"tiers": [t.to_public() for t in TIERS.values()]}


@router.post("/admin/keys", status_code=201, dependencies=[Depends(ADMIN)])
def create_key(request: Request, body: Annotated[NewKey, Body()]) -> dict[str, Any]:
    """Create a key. The secret is in ``key``, returned this once only."""
    platform = _platform(request)
    try:
        secret, rec = platform.create_key(
            body.name,
            body.tier,
            body.requestsPerMinute,
            body.monthlyCredits,
            scopes=parse_scopes(body.scopes),
            account=body.account,
        )
    except ValueError as e:
        raise PlatformError(400, str(e)) from e
    return {**_key_public(rec, platform), "key": secret}


@router.get("/admin/keys", dependencies=[Depends(ADMIN)])
def list_keys(request: Request) -> dict[str, Any]:
    """Every key (never the secrets)."""
    platform = _platform(request)
    return {"keys": [_key_public(k, platform) for k in platform.store.list_keys()]}


def _find(platform: Platform, ident: str) -> ApiKey:
    k = platform.find_key(ident)
    if k is None:
        raise PlatformError(404, f"No key matches {ident!r}")
    return k


@router.patch("/admin/keys/{key}", dependencies=[Depends(ADMIN)])
def change_key(request: Request, key: str, body: Annotated[KeyChange, Body()]) -> dict[str, Any]:
    """Change a key's tier or its own limits."""
    platform = _platform(request)
    k = _find(platform, key)
    try:
        platform.set_limits(k.key_id, body.tier, body.requestsPerMinute, body.monthlyCredits)
        if body.scopes is not None:
            platform.store.set_key_scopes(k.key_id, parse_scopes(body.scopes))
    except ValueError as e:
        raise PlatformError(400, str(e)) from e
    return _key_public(_find(platform, str(k.key_id)), platform)


@router.delete("/admin/keys/{key}", dependencies=[Depends(ADMIN)])
def revoke_key(request: Request, key: str) -> dict[str, Any]:
    """Revoke a key (by id, prefix or name); it stops working at once."""
    platform = _platform(request)
    k = _find(platform, key)
    if k.revoked_at is None:
        platform.store.revoke_key(str(k.key_id))
    return _key_public(_find(platform, str(k.key_id)), platform)


@router.get("/admin/usage/{key}", dependencies=[Depends(ADMIN)])
def admin_usage(
    request: Request,
    key: str,
    days: Annotated[float, Query(gt=0, le=366)] = 30,
    recent: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> dict[str, Any]:
    """Usage of any key."""
    platform = _platform(request)
    return platform.report(_find(platform, key), days=days, recent=recent)


@router.get("/usage")
def usage(
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    api_token: str | None = None,
    key: Annotated[str | None, Query(description="Admin only: a key id, prefix or name")] = None,
    days: Annotated[float, Query(gt=0, le=366)] = 30,
    recent: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> dict[str, Any]:
    """The calling key's usage: credits, requests per endpoint, recent requests."""
    platform = _platform(request)
    if key is not None:
        require_admin(request)
        return platform.report(_find(platform, key), days=days, recent=recent)
    presented = x_api_key or api_token
    if not presented:
        raise PlatformError(401, "Missing API key (X-API-Key header or api_token)")
    rec = verify_key(platform.store, presented)
    if rec is None:
        raise PlatformError(401, "Invalid API key")
    return platform.report(rec, days=days, recent=recent)


async def startup(app: FastAPI) -> None:
    platform = getattr(app.state, "platform", None)
    if platform is not None:
        platform.recorder.start()


async def shutdown(app: FastAPI) -> None:
    platform = getattr(app.state, "platform", None)
    if platform is not None:
        platform.recorder.close()
