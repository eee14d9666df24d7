"""Chain Kaggle sessions from any machine with credentials, until the run is done.

Each round: make sure no session of the kernel is running (pushing a running kernel
starts a SECOND session), check the weekly GPU quota, push the kernel folder written by
`kaggle-init` (Kaggle's reply checked: a refused push stops the chain with Kaggle's
message and is not a session), wait for the session to end, and read the progress from
the checkpoint dataset. Stops when the run is finished, after N sessions, after two
sessions in a row without progress, or when the quota would not cover another session.

The end of a session is not taken from `kernels_status` alone: right after a push it may
still describe the previous version. A session counts as ended once the kernel is idle
AND either it was seen running, or the store's ledger gained a session, or
`start_grace_s` passed since the push.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import T2SQLError
from .auth import kaggle_call
from .env import SESSION_HOURS
from .kernel import push_kernel
from .stores import CheckpointStore

ACTIVE = ("queued", "running", "new_script", "cancel_requested")


@dataclass
class ChainReport:
    sessions: int = 0
    steps: list[int] = field(default_factory=list)  # global step after each session
    statuses: list[str] = field(default_factory=list)  # kernel status at the end of each session
    stop_reason: str = ""

    def summary(self) -> str:
        return f"chain stopped ({self.stop_reason}) after {self.sessions} session(s); steps {self.steps}"


def kernel_status(api, kernel: str) -> str:
    """"none" when the kernel was never pushed, else queued / running / complete / error / ..."""
    try:
        response = kaggle_call(api.kernels_status, kernel)
    except (LookupError, ValueError):
        return "none"
    status = getattr(response, "status", response)
    return (status.name if hasattr(status, "name") else str(status)).lower()


def gpu_hours_left(api) -> float | None:
    """Weekly GPU hours left, from `quota_view` when this client has it (None = unknown)."""
    if not hasattr(api, "quota_view"):
        return None
    try:
        quota = kaggle_call(api.quota_view).gpu_quota
    except (T2SQLError, LookupError, AttributeError):
        return None
    if quota is None:
        return None
    left = quota.total_time_allowed - quota.time_used - quota.time_reserved
    return left.total_seconds() / 3600


def wait_until_idle(api, kernel: str, poll_s: float, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    status = kernel_status(api, kernel)
    while status in ACTIVE:
        if time.monotonic() > deadline:
            raise T2SQLError(f"kernel {kernel} still {status} after {timeout_s / 3600:.1f} h: check it on kaggle.com")
        time.sleep(poll_s)
        status = kernel_status(api, kernel)
    return status


def _sessions_in_store(store: CheckpointStore, run_name: str) -> int:
    return int((store.latest(run_name) or {}).get("sessions", 0))


def wait_for_session_end(api, kernel: str, store: CheckpointStore, run_name: str, sessions_before: int,
                         poll_s: float, timeout_s: float, start_grace_s: float) -> str:
    """The final status of the session just pushed (see the module docstring for why not just kernels_status)."""
    pushed, seen_active = time.monotonic(), False
    deadline = pushed + timeout_s
    while True:
        status = kernel_status(api, kernel)
        if status in ACTIVE:
            seen_active = True
        elif seen_active or time.monotonic() - pushed > start_grace_s or _sessions_in_store(store, run_name) > sessions_before:
            return status
        if time.monotonic() > deadline:
            raise T2SQLError(f"kernel {kernel} still {status} after {timeout_s / 3600:.1f} h: check it on kaggle.com")
        time.sleep(poll_s)


def run_chain(
    api,
    kernel: str,
    folder: str | Path,
    store: CheckpointStore,
    run_name: str,
    max_sessions: int = 10,
    session_hours: float = SESSION_HOURS,
    poll_s: float = 60.0,
    session_timeout_s: float = 13 * 3600,
    start_grace_s: float = 600.0,
    log=print,
) -> ChainReport:
    report = ChainReport()
    latest = store.latest(run_name)
    last_step = latest["global_step"] if latest else 0
    no_progress = 0
    while True:
        status = wait_until_idle(api, kernel, poll_s, session_timeout_s)  # never push while a session runs
        if hasattr(store, "wait_ready"):
            store.wait_ready()
        latest = store.latest(run_name)
        if latest and latest.get("finished"):
            report.stop_reason = "finished"
            break
        if report.sessions >= max_sessions:
            report.stop_reason = f"max sessions ({max_sessions})"
            break
        left = gpu_hours_left(api)
        if left is not None and left < session_hours:
            report.stop_reason = f"weekly GPU quota: {left:.1f} h left, a session needs up to {session_hours:.0f} h"
            break
        sessions_before = int((latest or {}).get("sessions", 0))
        log(f"pushing {kernel} (session {report.sessions + 1}; kernel was {status}; run at step {last_step})")
        version = push_kernel(api, folder)  # KernelPushRefused propagates: not a session
        report.sessions += 1
        status = wait_for_session_end(api, kernel, store, run_name, sessions_before, poll_s, session_timeout_s,
                                      start_grace_s)
        if hasattr(store, "wait_ready"):
            store.wait_ready()
        latest = store.latest(run_name)
        step = latest["global_step"] if latest else 0
        report.steps.append(step)
        report.statuses.append(status)
        log(f"session {report.sessions} (version {version}) ended ({status}): run at step {step}")
        no_progress = no_progress + 1 if step <= last_step else 0
        last_step = max(last_step, step)
        if no_progress >= 2:
            report.stop_reason = "no progress in two sessions in a row"
            break
    log(report.summary())
    return report
