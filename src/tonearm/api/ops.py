"""Operations: logging (text or JSON, with the request id), Prometheus metrics, readiness.

- ``configure_logging(settings)``: tonearm's own loggers (``tonearm.*``: jobs, webhooks,
  streams, API) write to stderr at ``settings.log_level``, as text or one JSON object per
  line; every line logged while a request runs carries its ``request_id``.
- ``/metrics`` (prometheus-client): requests by family, route and status, latency
  histograms, and, read at scrape time from the database, queue depth, jobs by kind and
  status, index sizes and active streams. With several HTTP worker processes each process
  counts its own requests (the gauges read from the database agree).
- ``/readyz``: 200 when the database answers, the job queue is reachable and the
  fingerprint and vector indexes are loaded; 503 naming what is not.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tonearm.catalog.context import Catalog
from tonearm.settings import Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tonearm_request_id", default=None
)

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's, or "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid and rid != "-":
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


_HANDLER_NAME = "tonearm-ops"


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """Send ``tonearm.*`` (and uvicorn's) log lines to ``stream`` (stderr) in the settings'
    format and level. Idempotent: a second call replaces the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    for name in ("tonearm", "uvicorn", "uvicorn.error", "uvicorn.access", "huey"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if h.get_name() == _HANDLER_NAME or name.startswith("uvicorn"):
                lg.removeHandler(h)
        if name in ("tonearm", "uvicorn", "huey"):
            lg.addHandler(handler)
            lg.propagate = False
        lg.setLevel(level if name != "huey" else max(level, logging.WARNING))
    # the API's own line per request replaces uvicorn's access log
    logging.getLogger("uvicorn.access").disabled = True
    return handler


def uvicorn_log_config() -> dict[str, Any]:
    """A uvicorn log config that leaves the loggers to ``configure_logging``."""
    return {"version": 1, "disable_existing_loggers": False}


# -- metrics ------------------------------------------------------------------------------------


class _CatalogCollector(Collector):
    """Gauges read from the database and the loaded indexes at scrape time."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterable[GaugeMetricFamily]:
        store = self.catalog.store
        jobs = GaugeMetricFamily(
            "tonearm_jobs", "Jobs in the jobs table by kind and status", labels=["kind", "status"]
        )
        depth = GaugeMetricFamily("tonearm_queue_depth", "Jobs waiting to run (queued)")
        try:
            counts = store.count_jobs_by_status()
        except Exception:
            counts = {}
        for (kind, status), n in sorted(counts.items()):
            jobs.add_metric([kind, status], n)
        depth.add_metric([], sum(n for (_, st), n in counts.items() if st == "queued"))
        yield jobs
        yield depth

        assets = GaugeMetricFamily("tonearm_assets", "Catalog assets by kind", labels=["kind"])
        sizes = GaugeMetricFamily(
            "tonearm_index_entries", "Entries of the loaded indexes", labels=["index"]
        )
        analyses = GaugeMetricFamily(
            "tonearm_analyses", "Stored analyses by analyzer", labels=["analyzer"]
        )
        try:
            for kind in ("music", "sfx"):
                assets.add_metric([kind], store.count_assets(kind))
            for name in ("fingerprint", "embedding", "beats"):
                analyses.add_metric([name], store.count_analyses(name))
        except Exception:
            pass
        fp = self.catalog.cache.get("fingerprint_index")
        if fp is not None:
            sizes.add_metric(["fingerprint"], len(fp))
        vx = self.catalog.cache.get("discovery.index")
        if vx is not None and hasattr(vx, "__len__"):
            sizes.add_metric(["vectors"], len(vx))
        yield assets
        yield analyses
        yield sizes

        streams = GaugeMetricFamily("tonearm_active_streams", "Streams monitored right now")
        try:
            streams.add_metric([], len(store.stream_lease_holders(int(time.time() * 1000))))
        except Exception:
            streams.add_metric([], 0)
        yield streams


class Metrics:
    """The app's metrics registry (one per app, so tests and apps do not share counters)."""

    def __init__(self, catalog: Catalog) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tonearm_http_requests",
            "HTTP requests by family, route and status",
            ["family", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tonearm_http_request_duration_seconds",
            "HTTP request latency by family and route",
            ["family", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.registry.register(_CatalogCollector(catalog))

    def observe(self, family: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(family, route, str(status)).inc()
        self.latency.labels(family, route).observe(seconds)


# -- readiness ------------------------------------------------------------------------------------


def readiness(catalog: Catalog) -> dict[str, Any]:
    """{check: "ok" or the reason} for the database, the job queue and the indexes."""
    checks: dict[str, str] = {}
    try:
        catalog.store.schema_version()
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"unavailable: {e}"
    try:
        from tonearm.jobs.queue import get_queue

        q = get_queue(catalog)
        q.store.job_exists("readyz")
        # RedisHuey: the shared queue must answer too
        conn = getattr(getattr(q.huey, "storage", None), "conn", None)
        if conn is not None and hasattr(conn, "ping"):
            conn.ping()
        checks["queue"] = "ok"
    except Exception as e:
        checks["queue"] = f"unavailable: {e}"
    try:
        from tonearm.recognition.service import get_index as fingerprint_index

        fingerprint_index(catalog)
        checks["fingerprint_index"] = "ok"
    except Exception as e:
        checks["fingerprint_index"] = f"not loaded: {e}"
    try:
        from tonearm.discovery.index import get_index as vector_index

        vector_index(catalog)
        checks["vector_index"] = "ok"
    except Exception as e:
        checks["vector_index"] = f"not loaded: {e}"
    return checks
