"""Workers: huey's queue and consumers, and the watchdog that looks after dead workers.

- Embedded default: ``SqliteHuey`` in ``DATA/queue.db``; ``tonearm serve`` starts
  ``settings.workers`` consumer threads inside the API process (:meth:`Workers.start`).
- Scale-out: ``settings.queue_url = redis://host:6379/0`` (``RedisHuey``) and ``tonearm
  worker`` processes (:meth:`Workers.run`) next to API servers started with ``--workers 0``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from tonearm.jobs.registry import load_job_kinds

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog


class WorkedQueue(Protocol):
    """What the workers use of :class:`tonearm.jobs.queue.JobQueue`."""

    catalog: Catalog
    huey: Huey
    watchdog_s: float

    def recover_stale(self, grace_s: float = 30.0) -> int: ...


log = logging.getLogger("tonearm.jobs")


class _EmbeddedConsumer(Consumer):
    """huey's consumer without signal handlers: it runs in threads of the API process."""

    def _set_signal_handlers(self) -> None:
        pass


def make_huey(catalog: Catalog) -> Huey:
    """Redis when ``settings.queue_url`` names one, else SQLite in the data directory.
    ``settings.queue_name`` keeps deployments (or test runs) sharing one Redis apart."""
    settings = catalog.settings
    url, name = settings.queue_url, settings.queue_name
    if url and str(url).startswith("redis"):
        return RedisHuey(name, url=str(url), results=False)
    catalog.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(catalog.data_dir / "queue.db"), results=False)


def hourly() -> Callable[[datetime], bool]:
    from huey import crontab

    return crontab(minute="17")


class Workers:
    """The consumer threads and the watchdog of one process for ``queue``."""

    def __init__(self, queue: WorkedQueue) -> None:
        self.queue = queue
        self._consumer: _EmbeddedConsumer | None = None
        self._watchdog_stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._consumer is not None

    def start(self, n: int) -> None:
        """Start ``n`` consumer threads in this process (embedded mode). Idempotent."""
        with self._lock:
            if self._consumer is not None or n <= 0:
                return
            self.queue.recover_stale()
            consumer = _EmbeddedConsumer(
                self.queue.huey,
                workers=n,
                worker_type="thread",
                periodic=True,
                initial_delay=0.05,
                max_delay=0.5,
                check_worker_health=False,
            )
            consumer.start()
            self._consumer = consumer
            self._watchdog_stop = threading.Event()
            threading.Thread(
                target=self.watchdog,
                args=(self._watchdog_stop,),
                daemon=True,
                name="tonearm-jobs-watchdog",
            ).start()
            log.info("started %d job worker thread(s)", n)

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        self._watchdog_stop.set()
        consumer.stop_flag.set()
        for _, t in consumer.worker_threads:
            t.join(timeout_s)
        consumer.scheduler.join(timeout_s)

    def watchdog(self, stop: threading.Event, every_s: float | None = None) -> None:
        """Re-queue jobs whose worker died (lease expired) and fail jobs past their time
        limit, even if their code never checks in."""
        every = self.queue.watchdog_s if every_s is None else every_s
        while not stop.wait(every):
            try:
                self.queue.recover_stale(grace_s=0.0)
            except Exception as e:  # never let housekeeping kill the thread (database away)
                log.warning("job watchdog: %s", e)

    def start_watchdog(self, every_s: float | None = None) -> threading.Event:
        """Run the watchdog in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        threading.Thread(
            target=self.watchdog, args=(stop, every_s), daemon=True, name="tonearm-jobs-watchdog"
        ).start()
        return stop

    def run(self, workers: int = 2, watchdog_s: float | None = None) -> None:
        """Blocking consumer for ``tonearm worker`` (own process, signal handling), with the
        watchdog that re-queues the jobs of workers that died."""
        load_job_kinds(self.queue.catalog)
        try:
            self.queue.recover_stale()
        except Exception as e:  # the database may be away: the watchdog retries
            log.warning("stale-job check at start: %s", e)
        stop = self.start_watchdog(watchdog_s)
        try:
            Consumer(self.queue.huey, workers=workers, worker_type="thread", periodic=True).run()
        finally:
            stop.set()


__all__ = ["Huey", "RedisHuey", "SqliteHuey", "Workers", "hourly", "make_huey"]
