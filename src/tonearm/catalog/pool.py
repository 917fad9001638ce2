"""A pool of long-lived worker processes with a time limit per task and crash recovery.

Bulk ingest decodes and analyses thousands of files; starting a process per file (what a
single ingest does, for isolation) costs more than decoding a short clip. Here each worker
starts once (from the decoder's forkserver, so av/numpy/soxr are already imported), keeps its
imports and models, and runs one task at a time. Isolation is kept per task: a task that
passes its time limit gets its worker killed and replaced, and a worker that dies (a
segfault in FFmpeg) fails only the task it was running.

Unlike :class:`concurrent.futures.ProcessPoolExecutor`, which breaks for good when one worker
dies and cannot stop one hung task, the parent knows which worker runs which task.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from tonearm.core.audio.pcm import decode_context

T = TypeVar("T")  # the caller's tag of a task


class TaskFailed(Exception):
    """A task raised in its worker (``kind``: the exception's class name), timed out
    (``timeout``) or its worker died (``crashed``)."""

    def __init__(self, kind: str, message: str, payload: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.payload = payload  # the exception's own arguments when it pickles


def _worker_main(conn: Connection, init: Callable[..., None] | None, init_args: tuple) -> None:
    """The loop of one worker: ``(fn, args)`` in, ``("ok", result)`` or ``("err", ...)`` out."""
    import signal

    # Ctrl-C reaches the whole process group: the parent decides what stops, and closes us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if init is not None:
        init(*init_args)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args = msg
        try:
            out: tuple[str, Any] = ("ok", fn(*args))
        except Exception as e:
            out = ("err", (type(e).__name__, str(e), _picklable(e.args)))
        try:
            conn.send(out)
        except Exception as e:  # an unpicklable result is the task's bug, not the pool's
            conn.send(("err", (type(e).__name__, f"cannot return the result: {e}", None)))


def _picklable(x: Any) -> Any:
    try:
        pickle.dumps(x)
    except Exception:
        return None
    return x


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    task: Any = None  # the caller's tag while busy
    deadline: float | None = None


class WorkerPool(Generic[T]):
    """``n`` long-lived processes; :meth:`submit` one task per idle worker, :meth:`results`
    yields them as they finish.

    Parameters
    ----------
    n : int
        Number of worker processes (>= 1).
    init : callable, optional
        Run once in each worker when it starts (imports, model loading); module-level and
        picklable, as are the task functions.
    init_args : tuple
    timeout_s : float, optional
        Wall-clock limit of one task; its worker is then killed and replaced.
    """

    def __init__(
        self,
        n: int,
        *,
        init: Callable[..., None] | None = None,
        init_args: tuple = (),
        timeout_s: float | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("a pool needs at least one worker")
        self._ctx = decode_context()
        self._init = init
        self._init_args = init_args
        self.timeout_s = timeout_s
        self._workers: list[_Worker] = [self._spawn() for _ in range(n)]
        self._closed = False

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_worker_main, args=(child, self._init, self._init_args), daemon=True
        )
        proc.start()
        child.close()
        return _Worker(proc, parent)

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def idle(self) -> int:
        return sum(w.task is None for w in self._workers)

    @property
    def busy(self) -> int:
        return self.size - self.idle

    def submit(self, tag: T, fn: Callable[..., Any], *args: Any) -> None:
        """Start ``fn(*args)`` on an idle worker (raises ``RuntimeError`` if none is idle)."""
        for i, w in enumerate(self._workers):
            if w.task is None:
                try:
                    w.conn.send((fn, args))
                except (BrokenPipeError, OSError):  # it died while idle: replace it
                    self._replace(i)
                    w = self._workers[i]
                    w.conn.send((fn, args))
                w.task = tag
                w.deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
                return
        raise RuntimeError("no idle worker")

    def _replace(self, i: int) -> None:
        w = self._workers[i]
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        self._workers[i] = self._spawn()

    def results(self, timeout_s: float | None = None) -> Iterator[tuple[T, Any]]:
        """Finished tasks as ``(tag, result)``; ``result`` is a :class:`TaskFailed` when
        the task raised, timed out or crashed its worker. Waits at most ``timeout_s`` for the
        first one (``None``: until one finishes), then yields every one that is ready."""
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return
        now = time.monotonic()
        deadlines = [w.deadline for w in busy if w.deadline is not None]
        wait_s = timeout_s
        if deadlines:
            until = max(0.0, min(deadlines) - now)
            wait_s = until if wait_s is None else min(wait_s, until)
        ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], wait_s))
        now = time.monotonic()
        for i, w in enumerate(list(self._workers)):
            if w.task is None:
                continue
            tag = w.task
            if w.conn in ready:
                try:
                    status, payload = w.conn.recv()
                except (EOFError, OSError):
                    self._replace(i)
                    yield tag, TaskFailed("crashed", "the worker process died on this file")
                    continue
                w.task, w.deadline = None, None
                if status == "ok":
                    yield tag, payload
                else:
                    name, message, args = payload
                    yield tag, TaskFailed(name, message, args)
            elif w.proc.sentinel in ready:
                self._replace(i)
                yield tag, TaskFailed("crashed", "the worker process died on this file")
            elif w.deadline is not None and now >= w.deadline:
                self._replace(i)
                yield tag, TaskFailed("timeout", f"took longer than {self.timeout_s:g} s")

    def map_unordered(
        self, fn: Callable[..., Any], items: Iterable[tuple[T, tuple]]
    ) -> Iterator[tuple[T, Any]]:
        """``fn(*args)`` for every ``(tag, args)``, at most one per worker at a time."""
        it = iter(items)
        exhausted = False
        while True:
            while not exhausted and self.idle:
                try:
                    tag, args = next(it)
                except StopIteration:
                    exhausted = True
                    break
                self.submit(tag, fn, *args)
            if not self.busy:
                return
            yield from self.results()

    def close(self) -> None:
        """Stop every worker (a running task is abandoned)."""
        if self._closed:
            return
        self._closed = True
        for w in self._workers:
            try:
                if w.task is None:
                    w.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + 2.0
        for w in self._workers:
            if w.task is None:
                w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
            w.proc.join(5)
            w.conn.close()

    def __enter__(self) -> WorkerPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
