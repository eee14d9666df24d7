"""Supervised worker processes for sandboxed SQL (execute.py): a call past its hard limit has its worker killed.

Reusable entry point for running one generated query at a time (`ask`, `serve`)::

    with SandboxPool() as pool:                    # one supervised worker, reused
        result = pool.execute(db_path, sql, timeout=10)   # an ExecResult, never raises
    # result.timed_out is True both when the deadline interrupted the query and when the
    # worker had to be killed; the pool starts a fresh worker for the next call.

`SandboxPool.map(fn, items, limit=..., on_failure=...)` is the general form (what
`parallel_map`, `execute_many` (parallel.py) and scoring use): `fn` runs in the workers, each
call under a hard limit of `limit` seconds per step; a call that starts another query calls
`begin_step(info)` (worker.py: the worker process side) to give it a fresh limit, and
`on_failure(item, WorkerFailure)` turns a killed or dead call into a result.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import pickle
import select
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, TypeVar

from ..errors import T2SQLError
from .execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult, execute_sql
from .worker import OUT_OF_MEMORY_EXIT, worker_main

GRACE_SECONDS = 1.0  # a supervised query still running this long after its timeout is killed
PIPE_BUDGET = 32 << 10  # bytes of calls queued ahead in a worker's pipe: under any pipe buffer, so sends never block
WORKER_MEMORY_BYTES = 1 << 30  # address space a supervised worker may add to what it has at start
UNPICKLE_SECONDS = 120.0  # how long a call sent to an idle worker may take to start: importing fn's module
MAX_LOST_ANSWERS = 2  # a call whose answer died with its worker this often (between calls) fails, not re-runs


# ---------------------------------------------------------------- supervised workers

T_ = TypeVar("T_")
R = TypeVar("R")


@dataclass(frozen=True)
class WorkerFailure:
    """Why a supervised call gave no result: killed past its limit, or its worker died."""

    killed: bool  # True: still busy `limit` seconds into a step, so the supervisor killed it
    seconds: float  # how long the last step had run
    step: Any = None  # the `info` of the call's last `begin_step`, None before any
    exitcode: int | None = None

    def describe(self, timeout: float) -> str:
        if self.killed:
            return f"timed out after {timeout:g} s (it did not stop at the deadline, so its worker process was killed)"
        if self.exitcode == OUT_OF_MEMORY_EXIT:
            return "out of memory: the answer does not fit the sandbox worker's memory cap (its worker was replaced)"
        return (f"the worker process died while running this (exit code {self.exitcode}: out of memory, or a "
                "crash in SQLite)")


class _WorkerTraceback(Exception):
    """The traceback of an exception raised inside a worker, attached as the re-raised exception's cause."""


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a small clean server, not from a parent that may hold
    # a model, CUDA state or threads (plain fork is unsafe then); spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Pipe:
    """A Connection with a poll object kept for it: checking for data costs one syscall, not a selector."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._poll = select.poll() if hasattr(select, "poll") else None
        if self._poll is not None:
            self._poll.register(conn.fileno(), select.POLLIN)

    def has_data(self) -> bool:
        return bool(self._poll.poll(0)) if self._poll is not None else self.conn.poll()

    def drain(self) -> tuple[list[tuple], bool]:
        """Every message waiting, and whether the other end is still there."""
        messages = []
        try:
            while self.has_data():
                messages.append(self.conn.recv())
        except (EOFError, OSError):
            return messages, False
        return messages, True


class _Worker:
    """One worker process: the calls sent to it, which one runs, since when, and its deadline."""

    def __init__(self, context: multiprocessing.context.BaseContext, memory_bytes: int | None) -> None:
        self.conn, child_calls = context.Pipe()
        clock, child_clock = context.Pipe(duplex=False)
        self.process = context.Process(target=worker_main,
                                       args=(child_calls, child_clock, memory_bytes, SandboxPool.QUEUED // 2),
                                       daemon=True, name="t2sql-sandbox")
        self.process.start()
        child_calls.close()
        child_clock.close()
        self.calls, self.clock = _Pipe(self.conn), _Pipe(clock)
        self.ready = False
        self.sent: deque[int] = deque()  # ids of the calls not yet answered, in the order the worker runs them
        self.sent_bytes: dict[int, int] = {}  # their pickled sizes
        self.returned: set[int] = set()  # those of them that returned (their answers are on the way)
        self.since = 0.0  # when the running call's current step started
        self.step: Any = None  # its `begin_step` info
        self.step_limit: float | None = None  # its own limit, if `begin_step` gave one
        self.unpickling = False  # sent to an idle worker, which has not said it started it yet

    @property
    def running(self) -> int | None:
        return next((i for i in self.sent if i not in self.returned), None)

    def deadline(self, limit: float | None) -> float:
        if limit is not None and self.step_limit is not None:
            limit = max(limit, self.step_limit)
        if limit is None or self.running is None:
            return math.inf
        end, now = self.since + limit, time.monotonic()
        if self.unpickling and end <= now:
            # Not started yet (a fresh worker importing fn's module on a loaded machine): no kill
            # before UNPICKLE_SECONDS; look again shortly, since its start is read only on waking.
            return min(self.since + max(limit, UNPICKLE_SECONDS), now + 0.05)
        return end

    def in_long_step(self, limit: float | None) -> bool:
        """Running a step whose own limit is longer than the map's (its deadline would hide the next step's)."""
        return self.running is not None and self.step_limit is not None and limit is not None and self.step_limit > limit

    def can_take(self, payload: bytes) -> bool:
        """An idle worker takes any call; a busy one only what its pipe holds without blocking us.

        (Were this process blocked writing a call while the worker blocks writing an answer
        back, both would wait forever.)
        """
        return not self.sent or sum(self.sent_bytes.values()) + len(payload) <= PIPE_BUDGET

    def send(self, call_id: int, payload: bytes) -> None:
        self.read_clock()
        if self.running is None:  # idle: this call starts now, once the worker has unpickled it
            self.since, self.step, self.step_limit = time.monotonic(), None, None
            self.unpickling = True
        self.conn.send_bytes(payload)
        self.sent.append(call_id)
        self.sent_bytes[call_id] = len(payload)

    def read_clock(self) -> None:
        """Catch up with the calls that returned and the steps that started (the worker never waits for this)."""
        for kind, call_id, at, *info in self.clock.drain()[0]:
            if call_id not in self.sent:
                continue  # a call answered already
            if kind == "returned":
                self.returned.add(call_id)
            self.since, (self.step, self.step_limit) = at, info if kind == "step" else (None, None)
            self.unpickling = False

    def answered(self, call_id: int) -> None:
        self.sent.remove(call_id)
        self.returned.discard(call_id)
        del self.sent_bytes[call_id]

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()
        self.clock.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()
            self.clock.conn.close()


class SandboxPool:
    """Worker processes that run calls under a hard time limit; one that overruns is killed and replaced.

    `map` runs `fn` over items in the workers, results in input order; `execute` runs one
    query. Workers start on first use and are reused until `close` (or the end of a `with`
    block). One map/execute at a time: calls from several threads take turns.
    """

    QUEUED = 16  # calls sent to a worker ahead (it answers every QUEUED // 2), so it never waits for us

    def __init__(self, workers: int = 1, grace: float = GRACE_SECONDS,
                 memory_bytes: int | None = WORKER_MEMORY_BYTES) -> None:
        if workers < 1:
            raise ValueError(f"a sandbox pool needs at least 1 worker, got {workers}")
        self.workers, self.grace, self.memory_bytes = workers, grace, memory_bytes
        self._context = _pool_context()
        self._pool: list[_Worker] = []
        self._call_ids = itertools.count()  # unique over the pool's life: a late message never names a new call
        self._lock = threading.Lock()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker (a busy one is killed)."""
        while self._pool:
            worker = self._pool.pop()
            worker.kill() if worker.sent else worker.stop()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (a killed one is replaced by a new pid)."""
        return [w.process.pid for w in self._pool]

    def execute(self, db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT,
                row_cap: int = DEFAULT_ROW_CAP) -> ExecResult:
        """`execute_sql` in a supervised worker: a query still running `grace` s past `timeout` is killed."""
        task = ExecTask(str(db_path), sql, timeout, row_cap)
        return self.map(run_task, [task], limit=timeout + self.grace, on_failure=timed_out_result)[0]

    def map(self, fn: Callable[[T_], R], items: Iterable[T_], limit: float | None = None,
            on_failure: Callable[[T_, WorkerFailure], R] | None = None, progress: bool = False,
            desc: str = "working") -> list[R]:
        """`[fn(x) for x in items]` in the workers. `fn` must be a module-level function (it is pickled).

        `limit`: seconds each step of a call may run (a call is one step unless it calls
        `begin_step`); past it the worker is killed and replaced and `on_failure(item,
        failure)` gives the item's result. Without `on_failure`, a killed or dead worker
        raises T2SQLError. An exception raised by `fn` is re-raised here.
        """
        from tqdm.auto import tqdm

        items = list(items)
        with self._lock:
            bar = tqdm(total=len(items), desc=desc, disable=not progress, unit="q", dynamic_ncols=True)
            try:
                return _MapRun(self, fn, items, limit, on_failure, bar).run()
            except BaseException:
                self.close()  # Ctrl-C or an error: no worker is left running a call nobody waits for
                raise
            finally:
                bar.close()


class _MapRun:
    """One `SandboxPool.map`: hands out items, collects answers, kills what overruns."""

    def __init__(self, pool: SandboxPool, fn: Callable, items: list, limit: float | None,
                 on_failure: Callable | None, bar: Any) -> None:
        self.pool, self.fn, self.items, self.limit, self.on_failure, self.bar = pool, fn, items, limit, on_failure, bar
        self.results: list[Any] = [None] * len(items)
        self.todo = deque(range(len(items)))
        self.remaining = len(items)
        self.index_of: dict[int, int] = {}  # call id -> item index
        self.lost: Counter[int] = Counter()  # item index -> times its answer died with a worker
        # Few items: one at a time, so each worker gets its share; many: up to QUEUED ahead.
        self.queued = max(1, min(SandboxPool.QUEUED, math.ceil(len(items) / (4 * pool.workers))))

    def run(self) -> list:
        workers = self.pool._pool
        while self.remaining:
            while len(workers) < min(self.pool.workers, self.remaining):
                workers.append(_Worker(self.pool._context, self.pool.memory_bytes))
            for worker in workers:
                while worker.ready and len(worker.sent) < self.queued and self.todo:
                    call_id, index = next(self.pool._call_ids), self.todo[0]
                    payload = ForkingPickler.dumps((call_id, self.fn, self.items[index]))
                    if not worker.can_take(payload):
                        break
                    self.todo.popleft()
                    self.index_of[call_id] = index
                    worker.send(call_id, payload)
                worker.read_clock()
            deadline = min((w.deadline(self.limit) for w in workers), default=math.inf)
            timeout = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
            # A worker in a step longer than the map's limit (a gold query under the official limits) is also
            # watched for its next step's start: that step's shorter deadline must wake us, not the long one.
            clocks = [w.clock.conn for w in workers if w.in_long_step(self.limit)]
            for conn in wait([w.conn for w in workers] + clocks, timeout=timeout):
                worker = next((w for w in workers if conn in (w.conn, w.clock.conn)), None)
                if worker is None:
                    continue  # buried just now
                if conn is worker.conn:
                    self._collect(worker)
                else:
                    worker.read_clock()
            for worker in [w for w in workers if self._overdue(w)]:
                self._collect(worker)  # an answer that came in just now still counts
                if worker in workers and self._overdue(worker):
                    worker.kill()
                    self._fail(worker, WorkerFailure(True, time.monotonic() - worker.since, worker.step,
                                                     worker.process.exitcode))
        return self.results

    def _overdue(self, worker: _Worker) -> bool:
        worker.read_clock()
        return time.monotonic() >= worker.deadline(self.limit)

    def _collect(self, worker: _Worker) -> None:
        messages, alive = worker.calls.drain()
        for kind, *rest in messages:
            if kind == "ready":
                worker.ready = True
            elif kind == "done":
                for call_id, answer in rest[0]:
                    worker.answered(call_id)
                    self._settle(self.index_of.pop(call_id), pickle.loads(answer))
            else:  # "raise": fn itself failed; the exception is the caller's
                worker.answered(rest[0])
                raise rest[1] from _WorkerTraceback(rest[2])
        if not alive:
            self._bury(worker)

    def _settle(self, index: int, value: Any) -> None:
        self.results[index] = value
        self.remaining -= 1
        self.bar.update(1)

    def _fail(self, worker: _Worker, failure: WorkerFailure) -> None:
        """A killed or dead worker: its running call fails, the calls queued behind it go to others."""
        self.pool._pool.remove(worker)
        running = worker.running
        # Calls queued behind it run again elsewhere; so do those whose answers it still held,
        # unless their answers were lost this way MAX_LOST_ANSWERS times: then they fail (a
        # call that kills its worker after returning must not be re-run forever).
        again, failed = [], []
        for call_id in worker.sent:
            if call_id == running:
                continue
            index = self.index_of.pop(call_id)
            if call_id in worker.returned and running is None:  # no call to blame: count it against the answers
                self.lost[index] += 1
                if self.lost[index] >= MAX_LOST_ANSWERS:
                    failed.append(index)
                    continue
            again.append(index)
        self.todo.extendleft(reversed(again))
        for index in failed:
            self._give_up(index, failure)
        if running is None:  # died between calls
            return
        self._give_up(self.index_of.pop(running), failure)

    def _give_up(self, index: int, failure: WorkerFailure) -> None:
        if self.on_failure is None:
            raise T2SQLError(f"item {index} of {len(self.items)}: {failure.describe(self.limit or 0)}; "
                             "rerun with 1 worker to see the failing item")
        self._settle(index, self.on_failure(self.items[index], failure))

    def _bury(self, worker: _Worker) -> None:
        """A worker whose pipe closed has died: fail its call, or stop everything if it never started."""
        worker.process.join()
        worker.read_clock()
        worker.conn.close()
        worker.clock.conn.close()
        if not worker.ready:
            self.pool._pool.remove(worker)
            raise T2SQLError(
                f"a sandbox worker process died while starting (exit code {worker.process.exitcode}): the main "
                "script cannot be re-imported by workers (guard it with `if __name__ == \"__main__\":`), or the "
                "machine is out of memory")
        self._fail(worker, WorkerFailure(False, time.monotonic() - worker.since, worker.step,
                                         worker.process.exitcode))



@dataclass(frozen=True)
class ExecTask:
    """One (database, SQL) pair for `execute_many`; picklable."""

    db_path: str
    sql: str
    timeout: float = DEFAULT_TIMEOUT
    row_cap: int = DEFAULT_ROW_CAP


def run_task(task: ExecTask) -> ExecResult:
    return execute_sql(task.db_path, task.sql, task.timeout, task.row_cap)


def timed_out_result(task: ExecTask, failure: WorkerFailure) -> ExecResult:
    """The result of a task whose worker was killed past its limit (or died)."""
    return ExecResult(None, failure.describe(task.timeout), failure.seconds, timed_out=failure.killed)
