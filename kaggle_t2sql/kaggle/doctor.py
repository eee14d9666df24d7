"""`kaggle-t2sql doctor`: what a Kaggle session needs, checked in seconds, one line per check with its fix.

Runs the same in a notebook cell and on a laptop. The training notebook runs it first and
stops on a failure that would waste the session (no usable credentials for a Kaggle store,
no internet where the store or the next push needs it, a GPU this torch cannot use), so
no one learns after hours of training that the checkpoint could not be pushed. A low or
spent GPU quota only warns (check_quota says why nothing is wasted by going on).

What the client will really use is reported as kagglesdk 0.1.37 decides it: inside a
notebook Kaggle's own token (file named by KAGGLE_API_V1_TOKEN) comes before everything
else; this package drops it and calls as the user (auth.py), so the user's secret is what
must be there and attached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import T2SQLError
from . import auth
from . import env as kaggle_env


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    fatal: bool = False  # a failure that would waste the session

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.fatal else "warn")
        return f"{mark} {self.name}: {self.detail}" + ("" if self.ok or not self.fix else f" -> fix: {self.fix}")


class DoctorFailed(T2SQLError):
    pass


def check_gpu(need_gpu: bool) -> Check:
    try:
        from .. import gpu

        devices = gpu.probe()
    except Exception as exc:  # noqa: BLE001 - torch missing or broken: that is the finding
        return Check("gpu", not need_gpu, f"cannot look ({type(exc).__name__}: {exc})",
                     "install torch (Kaggle's image has it)", fatal=need_gpu)
    if not devices:
        return Check("gpu", not need_gpu, "none (CPU only)",
                     "notebook editor: Settings > Accelerator > GPU T4 x2 (kaggle-init pushes with machine_shape "
                     "NvidiaTeslaT4)", fatal=need_gpu)
    names = ", ".join(f"{d.name} ({d.sm})" for d in devices)
    try:
        gpu.check()
    except Exception as exc:  # noqa: BLE001 - e.g. a P100 the image's torch has no kernels for
        return Check("gpu", False, f"{names}: {exc}", "push with machine_shape NvidiaTeslaT4 (GPU T4 x2), not the "
                     "default accelerator", fatal=True)
    return Check("gpu", True, names)


def check_client() -> Check:
    try:
        return Check("kaggle client", True, f"kaggle {auth.check_client()}")
    except T2SQLError as exc:
        return Check("kaggle client", False, str(exc), "see the message", fatal=True)


def check_secret() -> Check | None:
    """Inside a notebook: is the user's secret attached (and not only Kaggle's own token present)?"""
    if not kaggle_env.on_kaggle():
        return None
    loaded = auth.load_notebook_secrets()
    have = [n for n in auth.SECRET_NAMES if os.environ.get(n)]
    if "KAGGLE_API_TOKEN" in have or {"KAGGLE_USERNAME", "KAGGLE_KEY"} <= set(have):
        return Check("secret", True, f"attached ({', '.join(sorted(set(loaded) | set(have)))}; values not shown)")
    why = auth._secrets_problem[-1] if auth._secrets_problem else "no KAGGLE_API_TOKEN secret"
    return Check("secret", False, f"no Kaggle credentials found: no secret attached to this notebook ({why})",
                 auth.how_to(), fatal=True)


def check_credentials(store: str, need_push: bool):
    """(Check, api or None): which credentials the client will use, and whether they own the store."""
    nb_token = auth.notebook_token() is not None
    source = auth.credentials_source()
    note = "; Kaggle's notebook token is present and NOT used (what it may do is undocumented)" if nb_token else ""
    if source is None:
        return Check("credentials", not need_push, f"none of yours found{note}", auth.how_to(), fatal=need_push), None
    try:
        api = auth.kaggle_api()
    except T2SQLError as exc:
        return Check("credentials", False, f"{source}: {exc}", auth.how_to(), fatal=need_push), None
    who = auth.account(api) or "?"
    return Check("credentials", True, f"{source} (account {who}){note}"), api


def check_store(api, store: str) -> Check:
    if not store.startswith("kaggle:"):
        return Check("checkpoint dataset", True, f"{store or 'none'} (not a Kaggle store)")
    ref = store[len("kaggle:"):]
    problem = auth.other_owner(api, ref)
    if problem:
        return Check("checkpoint dataset", False, problem, "fix the store's owner", fatal=True)
    try:
        status = auth.kaggle_call(api.dataset_status, ref)
    except auth.Forbidden:
        return Check("checkpoint dataset", True, f"{ref} does not exist yet (or is still being created): the first "
                     "push creates it, under your account")
    except Exception as exc:  # noqa: BLE001 - e.g. no network: reported as such
        return Check("checkpoint dataset", False, f"{ref}: {auth.redact(str(exc))[:200]}",
                     "turn internet on (notebook editor: Settings > Internet)", fatal=True)
    return Check("checkpoint dataset", True, f"{ref} is yours ({status}): your credentials can write new versions")


def kaggle_api_url() -> str:
    """Where the client sends its calls (kagglesdk's endpoint for KAGGLE_API_ENVIRONMENT; api.kaggle.com by default)."""
    try:
        from kagglesdk.kaggle_env import get_endpoint, get_env

        return get_endpoint(get_env())
    except Exception:  # noqa: BLE001 - an older client without kagglesdk, or an unknown environment name
        return "https://api.kaggle.com"


def check_internet(need: bool, timeout_s: tuple[float, float] = (5.0, 10.0)) -> Check:
    """The Kaggle API reachable (pushes and Secrets need internet), asked WITHOUT credentials: a notebook with no
    secret attached must still learn whether internet is on. Any HTTP answer (even 401 or 404) means the way is open;
    the request goes through the same proxies the client uses (requests reads them from the environment)."""
    import requests

    url = kaggle_api_url()
    try:
        requests.get(url, timeout=timeout_s, allow_redirects=False)  # (connect, read) seconds
    except requests.exceptions.RequestException as exc:  # ConnectionError (DNS, refused, proxy), Timeout, ...
        return Check("internet", not need, f"the Kaggle API ({url}) cannot be reached ({type(exc).__name__})",
                     "notebook editor: Settings > Internet on (needs a phone-verified account); kaggle-init without "
                     "--no-internet", fatal=need)
    return Check("internet", True, f"the Kaggle API answers ({url})")


def check_quota(api, session_hours: float = kaggle_env.SESSION_HOURS) -> Check:
    """Weekly GPU hours left. A warning, never a stop: a session already running was admitted by Kaggle and stopping
    it gives no hour back (its checkpoints are pushed as it trains, and a refused self-chain push is handled: the
    checkpoint stays pushed and next-session.json says why); on a laptop `chain` reads Kaggle's refusal itself, and a
    refused push queues nothing. So nothing is wasted by going on; the warning says when the quota comes back."""
    from .chain import gpu_hours_left, quota_line

    line = quota_line(api)  # "12.3 h of 30 h used; resets 2026-12-12 00:00 UTC"
    left = gpu_hours_left(api) if line else None
    if left is None:
        return Check("GPU quota", True, line or "the client cannot say (kaggle < 2.2.1 has no `kaggle quota`)")
    reset = line.partition("; resets ")[2]
    wait = f"wait for the weekly reset ({reset})" if reset else "wait for the weekly reset (`kaggle quota` shows when)"
    if left <= 0:
        return Check("GPU quota", False, f"spent ({line}): Kaggle refuses every GPU push until it resets",
                     f"{wait}, then run `kaggle-t2sql chain`: the run carries on from its last checkpoint")
    if left < session_hours:
        return Check("GPU quota", False, f"{left:.1f} h left ({line}), less than one {session_hours:g}-h session: "
                     "Kaggle may end the next session early", f"{wait}, or give the session a time budget under "
                     f"{left:.1f} h (time_budget_minutes) so it ends and pushes first")
    return Check("GPU quota", True, f"{line} ({left:.1f} h left)")


def check_wheels(wheel_dataset: str = "") -> Check | None:
    """The offline wheel dataset, as the install cell looks for it (any kaggle_t2sql wheel under the inputs). Inputs
    are mounted only inside a Kaggle session: off Kaggle it is said to be checked there, not warned about."""
    if not kaggle_env.on_kaggle():
        return (Check("wheel dataset", True, f"{wheel_dataset}: checked in the session (inputs are mounted only on "
                      "Kaggle)") if wheel_dataset else None)
    inputs = kaggle_env.input_root()
    wheels = sorted(inputs.rglob("kaggle_t2sql-*.whl")) if inputs.is_dir() else []
    if wheels:
        others = len(list(inputs.rglob("*.whl"))) - len(wheels)
        return Check("wheel dataset", True, f"{wheels[-1].name} (+{others} dependency wheel(s)) in {wheels[-1].parent}")
    if wheel_dataset:
        return Check("wheel dataset", False, f"{wheel_dataset} is not mounted under {inputs}",
                     "attach it (Add Input), or kaggle-init --wheel")
    return None


def run_checks(store: str = "", need_gpu: bool = False, need_push: bool | None = None,
               wheel_dataset: str = "") -> list[Check]:
    need_push = store.startswith("kaggle:") if need_push is None else need_push
    checks = [check_gpu(need_gpu), check_client()]
    secret = check_secret()
    if secret:
        checks.append(secret)
    creds, api = check_credentials(store, need_push)
    checks.append(creds)
    internet = check_internet(need_push)  # whatever the credentials: a notebook without its secret must learn it too
    checks.append(internet)
    if api is not None and internet.ok:
        checks += [check_store(api, store), check_quota(api)]
    wheels = check_wheels(wheel_dataset)
    if wheels:
        checks.append(wheels)
    return checks


def doctor(store: str = "", need_gpu: bool = False, need_push: bool | None = None, wheel_dataset: str = "",
           stop_on_failure: bool = False, out=print) -> list[Check]:
    checks = run_checks(store, need_gpu, need_push, wheel_dataset)
    for check in checks:
        out(auth.redact(check.line()))
    fatal = [c for c in checks if not c.ok and c.fatal]
    if stop_on_failure and fatal:
        raise DoctorFailed(auth.redact("this session would be wasted: "
                                       + "; ".join(f"{c.name}: {c.fix or c.detail}" for c in fatal)))
    return checks


def wheel_dataset_of(folder: str | Path) -> str:
    from .kernel import load_spec

    return load_spec(folder).wheel_dataset
