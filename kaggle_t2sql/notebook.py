"""What the notebooks call: each function does one thing and returns something to show.

Notebooks stay thin (parameters, these calls, pictures); everything here also works
outside Jupyter, which is how the tests run it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import RunConfig
from .config_overrides import make_config  # make_config (papermill parameters -> RunConfig) stays importable here
from .errors import ConfigError, T2SQLError
from .kaggle import env as kaggle_env


@dataclass
class Session:
    """One notebook session: its config, run folder, and when the kernel started (the budget's zero)."""

    cfg: RunConfig
    output_dir: Path
    started_at: float  # epoch seconds of the kernel's start: Kaggle's 12 hours count from there
    chain: bool = False
    spec: Any = None  # KernelSpec when the notebook chains itself
    task: str = "train"  # "train" (any training method) or "sample" (`kaggle-t2sql sample` as a session)
    sample: dict | None = None  # the sample settings of a "sample" session (SampleSettings' fields)

    def seconds_left(self) -> float:
        """Until Kaggle ends the session (12 h after it started)."""
        return self.started_at + kaggle_env.SESSION_HOURS * 3600 - time.time()


def environment() -> str:
    """One line per GPU (or CPU), stopping clearly on a GPU this torch cannot use (e.g. a P100)."""
    import torch

    from . import gpu

    line = f"torch {torch.__version__}; " + gpu.describe(gpu.check())
    print(line)
    return line


def working_path(name: str) -> Path:
    return kaggle_env.working_dir() / name


def preflight(preset: str, store: str = "", chain: bool = False, kernel_spec: dict | None = None) -> list:
    """`kaggle-t2sql doctor` as the notebook's first step: one line per check, and a stop (DoctorFailed) on a
    failure that would waste the session (e.g. no attached secret for a session that must push)."""
    from .kaggle.doctor import doctor

    cfg_store = store or (f"kaggle:{kernel_spec['user']}/{kernel_spec['store_slug']}" if kernel_spec else "")
    need_gpu = not make_config(preset).model.name_or_path == "tiny"
    return doctor(cfg_store, need_gpu=need_gpu, need_push=cfg_store.startswith("kaggle:") or chain,
                  wheel_dataset=(kernel_spec or {}).get("wheel_dataset", ""), stop_on_failure=True)


def start_session(preset: str, run_name: str = "", output_dir: str = "", time_budget_minutes: float = 0.0,
                  store: str = "", data_source: str = "", data_path: str = "", per_complexity: int = 0,
                  limit: int = 0, overrides: dict | None = None, chain: bool = False,
                  kernel_spec: dict | None = None, task: str = "train", sample: dict | None = None) -> Session:
    """Everything that can fail before training, checked in seconds: config, GPU, Kaggle client,
    credentials for the store (and for chaining). A session that could not push must not train."""
    started_at = kaggle_env.kernel_started_at()
    cfg = make_config(preset, run_name, time_budget_minutes, store, data_source, data_path, per_complexity, limit,
                      overrides)
    if task == "sample":
        from .eval.sampling import session_settings

        session_settings(cfg, sample or {})  # refused here, not after the model is loaded
    elif task != "train":
        raise ConfigError(f"task {task!r}: use 'train' or 'sample'")
    spec = None
    if chain:
        from .kaggle.kernel import KernelSpec

        if not kernel_spec:
            raise ConfigError("chain=True needs kernel_spec (written by `kaggle-t2sql kaggle-init --self-chain`)")
        spec = KernelSpec.from_dict(kernel_spec)
        if f"kaggle:{spec.store}" != cfg.store.uri:
            raise ConfigError(f"store {cfg.store.uri!r} is not the kernel's checkpoint dataset kaggle:{spec.store}: "
                              "regenerate the notebook with kaggle-init")
    environment()
    if cfg.store.uri.startswith("kaggle:") or chain:
        from .kaggle.auth import check_client

        check_client()
    if cfg.store.uri:
        from .kaggle.store_uri import open_store

        open_store(cfg.store.uri).check_access()
    session = Session(cfg, Path(output_dir) if output_dir else working_path("run"), started_at, chain, spec, task,
                      dict(sample or {}))
    used = (time.time() - started_at) / 60
    print(f"session: budget {cfg.budget.session_minutes:.4g} min counted from kernel start ({used:.1f} min used by setup); "
          f"run folder {session.output_dir}; store {cfg.store.uri or 'none'}", flush=True)
    return session


def run_session(session: Session):
    """The session's work: training (train_session) or sampling (sample_session); returns its SessionResult."""
    return sample_session(session) if session.task == "sample" else train_session(session)


def sample_session(session: Session):
    """`kaggle-t2sql sample` as a chained session: pull the sample run from the store, sample until the budget
    (counted from the kernel's start, as training's) or `budget.session_steps` questions, pushing after every
    save; returns a SessionResult whose steps are questions, so push_next_session and `chain` read it as training's."""
    import tempfile

    from .config_checks import STORE_RUN
    from .eval.sampling import run_sample, session_settings
    from .kaggle.store_uri import open_store
    from .train.init_adapter import pull_store_run_adapter
    from .train.session_result import SessionResult

    cfg, begun = session.cfg, time.monotonic()
    settings = session_settings(cfg, session.sample or {})
    deadline = session.started_at + cfg.budget.session_minutes * 60 - cfg.budget.margin_minutes * 60
    store = open_store(cfg.store.uri) if cfg.store.uri else None
    with tempfile.TemporaryDirectory(prefix="t2sql-sample-adapter-") as tmp:
        adapter = cfg.training.init_adapter
        if adapter.startswith(STORE_RUN):
            adapter, where = pull_store_run_adapter(cfg.store.uri, adapter, tmp, "the sampled adapter (--init-adapter)")
            print(f"sampling with {where}", flush=True)
        report = run_sample(cfg, settings, kaggle_env.resolve_input(str(adapter)) if adapter else None,
                            session.output_dir, store=store, name=cfg.run_name, deadline=deadline,
                            session_questions=cfg.budget.session_steps)
    result = SessionResult(status="finished" if report["finished"] else "paused", stop_reason=report["stop_reason"],
                           start_step=report["start_done"], end_step=report["done"], max_steps=report["total"],
                           tokens_seen=0, elapsed_s=round(time.monotonic() - begun, 3), checkpoint=None,
                           run_dir=str(session.output_dir), push_errors=report["push_errors"])
    print(f"sample {result.status} ({result.stop_reason}): questions {result.start_step} -> {result.end_step} of "
          f"{result.max_steps}; {report.get('share_with_correct', 0.0):.3f} with a correct candidate, mean reward "
          f"{report.get('mean_reward', 0.0):.3f}", flush=True)
    return result


def train_session(session: Session, processes: int | None = None):
    """Pull (when a store is set), train until done or out of budget, push; returns the SessionResult.

    With more than one process (default: one per GPU, so 2 on Kaggle's "GPU T4 x2") the
    session runs data-parallel in a `torchrun` subprocess; its result comes back in a file
    (its output is only shown: NCCL ranks print warnings after the last line of our own).
    """
    import torch

    from .train.session_result import SessionResult
    from .train.trainer import ResumableTrainer

    cfg, output_dir = session.cfg, session.output_dir
    processes = torch.cuda.device_count() if processes is None else processes
    if processes < 2:
        result = ResumableTrainer(cfg, output_dir, session_start=kaggle_env.monotonic_from_epoch(session.started_at)).run()
        print(result.summary())
        return result
    import subprocess
    import sys

    import yaml

    from . import atomic

    from .runlock import ensure_free

    ensure_free(output_dir, "train")  # refused before this writes its config there; torchrun's ranks then lock it
    output_dir.mkdir(parents=True, exist_ok=True)
    config_file, result_file = output_dir / "session-config.yaml", output_dir / "session-result.json"
    result_file.unlink(missing_ok=True)
    atomic.write_text(config_file, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m",
           "kaggle_t2sql", "train", "--preset", cfg.preset, "--config", str(config_file), "--output-dir", str(output_dir),
           "--started-at", repr(session.started_at), "--result-file", str(result_file)]
    print(f"{processes} processes: running the session data-parallel with torchrun", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        print(line, end="", flush=True)
    if proc.wait() != 0 or not result_file.is_file():
        raise T2SQLError(f"the torchrun session failed (exit {proc.returncode}); its output is above")
    result = SessionResult(**json.loads(result_file.read_text()))
    print(result.summary())
    return result


def session_markdown(session: Session) -> str:
    """Where the run stands: the training sessions' table, or the sample run's report."""
    if session.task != "sample":
        return session_table_markdown(session.output_dir)
    from .eval.sampling import REPORT

    report = json.loads((session.output_dir / REPORT).read_text())
    k = next((key for key in report if key.startswith("pass@") and key != "pass@1"), "pass@1")
    return (f"**sample: {report.get('done', 0)} of {report.get('total', 0)} questions** — "
            f"{'finished' if report.get('finished') else 'not finished yet'}\n\n"
            f"| with a correct candidate | pass@1 | {k} | mean reward |\n|---|---|---|---|\n"
            f"| {report.get('share_with_correct', 0):.3f} | {report.get('pass@1', 0):.3f} | {report.get(k, 0):.3f} | "
            f"{report.get('mean_reward', 0):.3f} |")


def session_table_markdown(output_dir: str | Path) -> str:
    from .checkpoints import KaggleCheckpointManager
    from .demo import session_rows

    status = KaggleCheckpointManager(output_dir).status()
    rows = ["| session | steps | stopped by | minutes | tokens | loss |", "|---|---|---|---|---|---|"]
    for index, start, end, reason, secs, tokens, loss in session_rows(status["sessions"], status["loss_history"]):
        rows.append(f"| {index} | {start} → {end} | {reason} | {secs / 60:.1f} | {tokens} | {loss} |")
    rows.append(f"\n**step {status['global_step']} of {status['max_steps']}** — "
                f"{'finished' if status['finished'] else 'not finished yet'}")
    return "\n".join(rows)


def loss_curve_path(output_dir: str | Path) -> Path:
    from .checkpoints import KaggleCheckpointManager

    return KaggleCheckpointManager(output_dir).plot_path


def push_next_session(session: Session, result) -> bool:
    """In-notebook chaining, right after the final checkpoint push and before any optional work.

    Pushes the next version of this kernel (its source pulled from Kaggle, its metadata
    rebuilt from the kernel spec: checkpoint dataset attached, GPU T4 x2, internet) unless
    the run is finished, this session brought no progress to the store, or the run reached
    its session cap. Kaggle decides on the quota and the account's session cap, and its
    refusal is read (the push reply's `error`): the session cap is waited out while this
    session has time left; the spent quota stops the chain. Either way this session's
    checkpoint is already in the store, and `<run>/next-session.json` says whether the
    chain goes on and why not; `kaggle-t2sql chain` from outside carries on from there.
    """
    import tempfile

    from . import atomic
    from .kaggle.auth import kaggle_api, kaggle_call
    from .kaggle.chain import push_with_retry
    from .kaggle.kernel import KernelPushRefused, write_kernel_folder
    from .kaggle.store_uri import open_store

    spec = session.spec

    def stop(reason: str, pushed_version: int = 0) -> bool:
        atomic.write_json(session.output_dir / "next-session.json",
                          {"pushed": bool(pushed_version), "version": pushed_version, "chain_stopped": reason})
        print(f"pushed the next session of {spec.kernel} (version {pushed_version})" if pushed_version
              else f"chain stopped: {reason}", flush=True)
        return bool(pushed_version)

    if result.status == "finished":
        return stop("run finished: no next session")
    if result.stop_reason == "nonfinite":
        return stop(f"no next session: {result.error}")
    api = kaggle_api()
    store = open_store(session.cfg.store.uri, api=api)
    if hasattr(store, "wait_ready"):
        store.wait_ready()
    latest = store.latest(session.cfg.run_name) or {}
    if latest.get("global_step", 0) <= result.start_step:
        return stop(f"no next session: this session brought no progress to {store.uri} (store at step "
                    f"{latest.get('global_step', 0)}){'; ' + result.push_errors[-1] if result.push_errors else ''}")
    if latest.get("finished"):
        return stop("run finished: no next session")
    if latest.get("sessions", 0) >= spec.max_sessions:
        return stop(f"no next session: {latest.get('sessions')} sessions reached the cap of {spec.max_sessions}")
    cap_wait_s = max(0.0, min(1800.0, session.seconds_left() - 600.0))  # never past this session's own end
    with tempfile.TemporaryDirectory() as pulled, tempfile.TemporaryDirectory() as folder:
        kaggle_call(api.kernels_pull, spec.kernel, path=pulled, metadata=False, quiet=True)
        source = next(Path(pulled).glob("*.ipynb"), None)
        if source is None:
            raise T2SQLError(f"kernels_pull {spec.kernel} returned no notebook: cannot push the next session")
        write_kernel_folder(spec, folder, source=source.read_text())
        try:
            version = push_with_retry(api, folder, cap_wait_s=cap_wait_s, cap_poll_s=min(60.0, max(1.0, cap_wait_s / 10)))
        except KernelPushRefused as exc:  # this session's checkpoint is pushed: only the chain stops
            return stop(f"the push of the next session was refused: {exc}. The checkpoint of this session is in "
                        f"{store.uri}; run `kaggle-t2sql chain` (or push the kernel) to carry on")
    return stop("", version)


def evaluate(cfg: RunConfig, adapter: str = "", data: str = "bundled", data_path: str = "", split: str = "dev",
             limit: int = 0, samples: int = 1, temperature: float = 0.8, vote: str = "soft", fix_rounds: int = 0,
             out_dir: str | Path = "eval", max_new_tokens: int = 0) -> dict:
    """Generate, execute, score; returns the report with `markdown` and `chart` (PNG path) added."""
    from .eval.evaluate import EvalSettings, markdown_report, run_eval

    settings = EvalSettings(data=data, data_path=kaggle_env.resolve_input(data_path), split=split, limit=limit,
                            samples=samples, temperature=temperature, vote=vote, fix_rounds=fix_rounds,
                            max_new_tokens=max_new_tokens or cfg_max_new_tokens(cfg))
    report = run_eval(cfg, settings, kaggle_env.resolve_input(adapter) or None, out_dir)
    report["markdown"] = markdown_report(report)
    report["chart"] = str(Path(out_dir) / "report.png")
    return report


EVAL_RESERVE_MINUTES = 20.0  # the short evaluation runs only when this much of the session is left


def quick_eval(session: Session, limit: int = 20) -> str:
    """A short greedy evaluation of the run's latest checkpoint on the bundled dev split (Markdown),
    skipped when the session is too close to Kaggle's limit: it is optional, the pushes are not."""
    from .checkpoints import KaggleCheckpointManager

    if session.seconds_left() < EVAL_RESERVE_MINUTES * 60:
        return f"*Short evaluation skipped: {session.seconds_left() / 60:.0f} min left in this session.*"
    latest = KaggleCheckpointManager(session.output_dir).latest_valid()
    # A bounded check inside the training session: 1024 tokens, not Arctic's 8192 (the report counts the cut answers).
    report = evaluate(session.cfg, adapter=str(latest) if latest else "", limit=limit,
                      out_dir=session.output_dir / "eval", max_new_tokens=min(QUICK_EVAL_MAX_NEW_TOKENS,
                                                                              cfg_max_new_tokens(session.cfg)))
    return f"**Dev evaluation** ({limit} questions, adapter `{latest.name if latest else 'none'}`)\n\n" + report["markdown"]


QUICK_EVAL_MAX_NEW_TOKENS = 1024


def cfg_max_new_tokens(cfg: RunConfig) -> int:
    """The tiny model only needs to show the pipeline; the real model reasons at length (Arctic's 8192)."""
    from .config_presets import default_max_new_tokens

    return default_max_new_tokens(cfg)
