"""Chain Kaggle sessions from any machine with credentials, until the run is done.

Each round: make sure no session of the kernel is running (pushing does not stop a
running version, kaggle-cli #388, and no API cancels one: a push then starts a SECOND
session of the run), push the kernel folder written by `kaggle-init`, wait for the
session to end, and read the progress from the checkpoint dataset. Stops when the run is
finished, after N sessions, or after two sessions in a row without progress.

Kaggle's reply to a push is read, never assumed (a refusal has `error` set and version 0,
and the CLI exits 0): "Maximum batch GPU session count of 2 reached." (another session of
the account runs) is waited out and retried, bounded and logged; "Maximum weekly GPU
quota of 30.00 hours reached." stops the chain with that text, the hours used and when
the quota resets (`quota_view`, kaggle >= 2.2.1). A refused push is never a session.

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
from .kernel import KernelPushRefused, push_kernel
from .stores import CheckpointStore

ACTIVE = ("queued", "running", "new_script", "cancel_requested")
SESSION_CAP = "batch gpu session count"  # "Maximum batch GPU session count of 2 reached." (CPU: 5)
QUOTA_SPENT = "weekly gpu quota"  # "Maximum weekly GPU quota of 30.00 hours reached."


class QuotaSpent(KernelPushRefused):
    """The weekly GPU quota is spent: no session until it resets."""


class SessionCapReached(KernelPushRefused):
    """Another GPU session of the account runs (Kaggle allows two at a time)."""


def classify_refusal(exc: KernelPushRefused) -> KernelPushRefused:
    text = str(exc).lower()
    if QUOTA_SPENT in text:
        return QuotaSpent(str(exc))
    if SESSION_CAP in text:
        return SessionCapReached(str(exc))
    return exc


def quota_line(api) -> str:
    """"12.3 h of 30 h used; resets 2026-12-12 00:00 UTC", or "" where the client cannot say (kaggle < 2.2.1)."""
    if not hasattr(api, "quota_view"):
        return ""
    try:
        response = kaggle_call(api.quota_view)
        quota = response.gpu_quota
        used, total = quota.time_used.total_seconds() / 3600, quota.total_time_allowed.total_seconds() / 3600
    except (T2SQLError, LookupError, AttributeError):
        return ""
    refresh = getattr(response, "quota_refresh_time", None)
    when = f"; resets {refresh:%Y-%m-%d %H:%M} UTC" if refresh else ""
    return f"{used:.1f} h of {total:.0f} h used{when}"


def push_with_retry(api, folder, log=print, cap_wait_s: float = 1800.0, cap_poll_s: float = 60.0,
                    sleep=time.sleep) -> int:
    """push_kernel, waiting while the account's session cap is reached (bounded by cap_wait_s, each wait logged).
    QuotaSpent (with the hours used and the reset time) and other refusals propagate: none is a session."""
    waited, attempt = 0.0, 0
    while True:
        try:
            return push_kernel(api, folder)
        except KernelPushRefused as exc:
            refusal = classify_refusal(exc)
            if isinstance(refusal, QuotaSpent):
                detail = quota_line(api)
                raise QuotaSpent(f"{refusal}{' (' + detail + ')' if detail else ''}") from None
            if not isinstance(refusal, SessionCapReached) or waited >= cap_wait_s:
                if isinstance(refusal, SessionCapReached):
                    raise SessionCapReached(f"{refusal} (still after waiting {waited / 60:.0f} min for another "
                                            "session of the account to end)") from None
                raise refusal from None
            attempt += 1
            if attempt == 1 or int(waited // 60) > int((waited - cap_poll_s) // 60):  # the first, then once a minute
                log(f"push refused, another GPU session of the account runs: {refusal}; retrying every "
                    f"{cap_poll_s:g} s (attempt {attempt}, {waited / 60:.1f} of {cap_wait_s / 60:.0f} min waited)")
            sleep(cap_poll_s)
            waited += cap_poll_s


@dataclass
class ChainReport:
    sessions: int = 0
    steps: list[int] = field(default_factory=list)  # global step after each session
    statuses: list[str] = field(default_factory=list)  # kernel status at the end of each session
    stop_reason: str = ""
    refusals: list[str] = field(default_factory=list)  # Kaggle's refusals that stopped the chain

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


class VersionRunning(T2SQLError):
    """A version of the kernel is queued or running: a push now would start a second session of the run."""


def wait_until_idle(api, kernel: str, poll_s: float, timeout_s: float, wait: bool = True, log=print) -> str:
    """The kernel's status once no version of it is queued or running (pushing would not stop that one)."""
    deadline = time.monotonic() + timeout_s
    status = kernel_status(api, kernel)
    if status in ACTIVE and not wait:
        raise VersionRunning(f"a version of {kernel} is {status}: pushing now would start a second session of the run "
                             "(a push does not stop a running version, and no API cancels one). Wait for it to end, "
                             "or run chain without --no-wait")
    if status in ACTIVE:
        log(f"a version of {kernel} is {status}: waiting for it to end before pushing")
    while status in ACTIVE:
        if time.monotonic() > deadline:
            raise T2SQLError(f"kernel {kernel} still {status} after {timeout_s / 3600:.1f} h: check it on kaggle.com")
        time.sleep(poll_s)
        status = kernel_status(api, kernel)
    return status


def _sessions_in_store(store: CheckpointStore, run_name: str) -> int:
    return int((store.latest(run_name) or {}).get("sessions", 0))


def wait_for_session_end(api, kernel: str, store: CheckpointStore, run_name: str, sessions_before: int,
                         poll_s: float, timeout_s: float, start_grace_s: float, queue_timeout_s: float = 24 * 3600) -> str:
    """The final status of the session just pushed (see the module docstring for why not just kernels_status).

    The session's deadline counts from when it was first seen running: time in Kaggle's queue is not session
    time (a queued version may wait long on a busy day); the queue has a deadline of its own."""
    pushed, seen_active, running_since = time.monotonic(), False, None
    while True:
        status = kernel_status(api, kernel)
        if status in ACTIVE:
            seen_active = True
            if status != "queued" and running_since is None:
                running_since = time.monotonic()
        elif seen_active or time.monotonic() - pushed > start_grace_s or _sessions_in_store(store, run_name) > sessions_before:
            return status
        if running_since is not None and time.monotonic() - running_since > timeout_s:
            raise T2SQLError(f"kernel {kernel} still {status} {timeout_s / 3600:.1f} h after it started running: "
                             "check it on kaggle.com")
        if running_since is None and time.monotonic() - pushed > queue_timeout_s:
            raise T2SQLError(f"kernel {kernel} still {status} {queue_timeout_s / 3600:.1f} h after the push: "
                             "check it on kaggle.com")
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
    wait_running: bool = True,
    cap_wait_s: float = 3 * 3600.0,
    cap_poll_s: float | None = None,
) -> ChainReport:
    report = ChainReport()
    latest = store.latest(run_name)
    last_step = latest["global_step"] if latest else 0
    no_progress = 0
    while True:
        status = wait_until_idle(api, kernel, poll_s, session_timeout_s, wait=wait_running or report.sessions > 0,
                                 log=log)  # never push while a version of the run is queued or running
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
        if left is not None and left < session_hours:  # Kaggle decides: the push is refused once the quota is spent
            log(f"weekly GPU quota: {max(left, 0.0):.1f} h left, a session may use up to {session_hours:.0f} h")
        sessions_before = int((latest or {}).get("sessions", 0))
        log(f"pushing {kernel} (session {report.sessions + 1}; kernel was {status}; run at step {last_step})")
        try:
            version = push_with_retry(api, folder, log, cap_wait_s, cap_poll_s if cap_poll_s is not None else poll_s)
        except KernelPushRefused as exc:  # not a session
            report.refusals.append(str(exc))
            report.stop_reason = f"push refused: {exc}"
            break
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
