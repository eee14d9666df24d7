"""A Kaggle user's whole path, end to end, in the emulated Kaggle (tests/emulator/kaggle_emulator.py +
tests/emulator/kaggle_sessions.py: pushed notebooks really run there, are cut at the scaled 12-hour
limit, and charge the GPU quota).

Steps, as the README's "From zero to a chained run on Kaggle" gives them (step 1, the token, is the
emulator's client environment):
  2. `kaggle-t2sql prepare --source bundled ... --publish tester/t2sql-subset` (the training subset);
  3. `kaggle-t2sql kaggle-init --user tester --preset tiny --wheel --data-path kaggle:tester/t2sql-subset/...`
     (the base model comes from an attached Kaggle Model; with --fresh-account the checkpoint dataset
     is NOT created: the first session that can push creates it);
  4. `kaggle kernels push -p <kernel>` creates the notebook; with no secret attached yet its session
     stops at once naming KAGGLE_API_TOKEN; then the secret is attached (method="grpo"/"sample" attach it
     first: the SFT path shows this step);
  5. `kaggle-t2sql chain --folder <kernel>` from outside, or with --self-chain one more push and the
     notebook pushes each next session itself, until the run is finished; then
     `kaggle-t2sql sync pull` of the checkpoint dataset into a run folder.
Then the final adapter is compared with an uninterrupted local run of the same configuration,
and DIR/summary.json is written: finished, sessions (status, start_step, end_step,
stop_reason), first_session_without_secret, run_dir, gpu_hours_used, identical_to_uninterrupted,
wall_seconds, refusals (Kaggle's push refusals seen), notebook_token (calls made with Kaggle's own
notebook token, and whether it leaked into a log, output, checkpoint or dataset).

Every session has Kaggle's own notebook token (KAGGLE_API_V1_TOKEN + KAGGLE_DATA_PROXY_URL), which
the emulator refuses everything but reads of the session's inputs. Variants:
  --busy-account    two other GPU sessions of the account run when the chain pushes; one ends a
                    session later: Kaggle refuses with "Maximum batch GPU session count of 2 reached."
                    and the chain waits (logged) and retries;
  --quota-hours 24  the weekly GPU quota is 24 h and each session is ~12 emulated hours: the push
                    after two sessions is refused with Kaggle's quota text; the chain stops saying it
                    with the reset time; after the (emulated) reset `chain` carries on (on a loaded machine
                    a session may run to its limit, 24 emulated hours, and a week hold one session:
                    `quota_weeks` says how many resets the run needed); with --kill-at-limit every
                    session is killed at Kaggle's 12-hour limit, so each week holds exactly two.

Store faults (issue 17): --prune-fault keeps at most 2 store versions (every later push prunes) and makes
Kaggle refuse one upload of the first pruning push (a partial version) and fail the version of a later
one; --overlapping chains a second run (RUN2, its own notebook) on the same store at the same time (the two
chains' sessions share the machine, so each session's budget is OVERLAP_SLOWDOWN times longer). The
exit status says whether both runs ended bit-identical to the uninterrupted run (summary: `second_run`).
--thin-quota: whenever a session pushes, the week has THIN_QUOTA_H GPU hours left (its total follows the live
usage): a self-chained session whose own running time were counted twice would be refused.
--max-steps N: a shorter run (the reference, in its own --out, is made with the same steps).
--session-steps N: each session ends after N steps (budget.session_steps; its clock budget is then STEP_BUDGET_ROOM
uninterrupted runs and never binds), so the number of sessions does not depend on the machine's speed.

The emulated image has Kaggle's kaggle 2.0.2 / kagglesdk 0.1.20 (tests/emulator/kaggle_image.txt), so the wheel dataset
carries requirements.txt's wheels (from ./dev's download) and each session's install upgrades the client:
`session_kaggle_clients` lists the versions the sessions' doctor lines name.

Run (repo root, package installed): ./dev python bench/kaggle_e2e.py --out DIR [--self-chain] [--fresh-account]
    [--prune-fault] [--overlapping] [--busy-account] [--quota-hours 24] [--kill-at-limit] [--max-steps N]
    [--session-steps N] [--thin-quota]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "emulator"))

USER = "tester"
RUN = "e2e"
STORE = f"{USER}/kaggle-t2sql-checkpoints"
KERNEL = f"{USER}/kaggle-t2sql-train"
RUN2, KERNEL2 = "e2e-2", f"{USER}/kaggle-t2sql-train-2"  # --overlapping: a second run chained on the same store
MODEL = f"{USER}/tiny-qwen2/transformers/default/1"  # the base model, attached as a Kaggle Model
SUBSET = f"{USER}/t2sql-subset"  # the training subset made by `prepare --publish`
# The tiny run: small enough for a few minutes on 2 cores, long enough for 3+ budget-cut sessions.
SESSIONS_PER_RUN = 3.5  # a session trains this share of the uninterrupted run's training time ...
SETUP_FACTOR = 2.0  # ... after its set-up, budgeted at this many times the uninterrupted run's set-up
STEP_BUDGET_ROOM = 4.0  # --session-steps: a session's clock budget is this many uninterrupted runs (it never binds) ...
STEP_BUDGET_FLOOR_S = 600.0  # ... and never under 10 minutes (a session's set-up alone is ~20-60 s, more on a loaded machine)
OVERLAP_SLOWDOWN = 2.0  # --overlapping: two sessions at once share the cores, so each budget is this much longer
TRAINING = ["data.stages.0.limit=64", "data.max_seq_length=2048", "training.batch_size=4", "training.max_steps=200",
            "training.save_steps=6", "training.logging_steps=1"]
# method="grpo": a GRPO run on the pre-trained tiny base (the demo's), starting from a finished SFT run of the
# store (training.init_adapter=run:NAME, pushed there first); 4 completions of 24 tokens per prompt, 1 prompt a step, 6 steps
GRPO_TRAINING = ["data.stages.0.limit=8", "data.max_seq_length=2048", "training.method=grpo", "grpo.num_generations=4",
                 "grpo.max_completion_length=24", "training.batch_size=4", "training.gradient_accumulation_steps=1",
                 "training.max_steps=6", "training.save_steps=1", "training.logging_steps=1"]
# method="sample": `sample` sessions (kaggle-init --method sample) from the same store run's adapter, on the first
# SAMPLE_QUESTIONS questions of the subset, SAMPLE_ARGS per question; session_steps is then questions per session
SAMPLE_QUESTIONS = 6
SAMPLE_ARGS = ["--samples", "2", "--max-new-tokens", "24", "--gold-as-chosen"]  # pairs even when none is right
SAMPLE_FILES = ("samples.jsonl", "rft.jsonl", "pairs.jsonl")


def _cli(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=timeout,
                         cwd=str(REPO))
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    if args[0] == "kaggle" and "error:" in out.stdout.lower():  # the kaggle CLI exits 0 on a refusal: read what it says
        raise RuntimeError(f"{' '.join(args[:3])} was refused: {out.stdout[-2000:]}")
    return out


def notebook_token_report(emu, sessions, *roots: Path) -> dict:
    """Calls made with Kaggle's own notebook token, and whether a token of it is in any log, output, checkpoint
    or dataset version (the token file the session was given is the one place it may be)."""
    tokens = [t.encode() for t in sessions.notebook_tokens]
    leaks = [r.version for r in sessions.records if any(t.decode() in r.log for t in tokens)]
    for root in (emu.root / "datasets", emu.root / "kernels", *roots):
        for path in Path(root).rglob("*") if Path(root).exists() else []:
            if path.is_file() and path.name != "kaggle-api-v1-token" and any(t in path.read_bytes() for t in tokens):
                leaks.append(str(path))
    return {"sessions_with_it": len(tokens), "calls_made_with_it": len(emu.notebook_token_calls()), "leaked_into": leaks}


def refusals(emu) -> list[str]:
    return [c["response"]["error"] for c in emu.calls("SaveKernel") if (c.get("response") or {}).get("error")]


def session_rows(ledger: list[dict], records) -> list[dict]:
    """One row per emulated session: Kaggle's status, and the ledger entry written during it (if any)."""
    rows = []
    for record in records:
        entry = next((s for s in ledger if record.started - 1 <= s["start_time"] <= (record.ended or time.time()) + 1), None)
        rows.append({"version": record.version, "status": record.status, "killed_at_limit": record.killed,
                     "elapsed_s": round(record.elapsed_s, 1), "machine_shape": record.machine_shape,
                     "start_step": entry["start_step"] if entry else None, "end_step": entry["end_step"] if entry else None,
                     "stop_reason": entry["stop_reason"] if entry else None, "failure": record.failure_message})
    return rows


def _wait_for_chain_end(emu, sessions, after: int, deadline_s: float) -> None:
    """Self-chaining: until the `after` pushes made from outside and every session pushed since have ended, and the
    last pushed no successor (a chain stopped by its first session ends the wait too)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        runs = emu.kernel_runs(KERNEL)
        if len(runs) >= after and all(r.status in ("complete", "error") for r in runs) and len(sessions.records) == len(runs):
            sessions.wait_idle()
            time.sleep(2.0)  # a last session may still be pushing its successor
            if len(emu.kernel_runs(KERNEL)) == len(runs):
                return
    raise TimeoutError("the self-chained sessions did not end")


def _store_version_count(emu) -> int:
    return sum(len(emu.dataset_versions(ref)) for ref in (STORE, f"{STORE}-b"))


def _watch_store_peak(emu, stop) -> list[int]:
    """The most versions the store's two datasets held at once, polled until `stop` (a one-item list)."""
    peak = [0]

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], _store_version_count(emu))
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return peak


def _overlap_s(records, ref_a: str, ref_b: str) -> float:
    """Seconds during which a session of each of the two kernels ran at once."""
    spans = lambda ref: [(r.started, r.ended) for r in records if r.ref == ref and r.started]  # noqa: E731
    return sum(max(0.0, min(a1, b1) - max(a0, b0)) for a0, a1 in spans(ref_a) for b0, b1 in spans(ref_b))


def _inject_pruning_faults(emu, stop) -> list[str]:
    """--prune-fault: once the store holds 2 versions (every later push prunes), refuse one upload of the next
    push (the client leaves the file out: a partial version); two pushes later, Kaggle fails the version."""
    injected: list[str] = []
    count = lambda: _store_version_count(emu)  # noqa: E731

    def created() -> int:
        return sum(max([v["number"] for v in emu.dataset_versions(ref)] or [0]) for ref in (STORE, f"{STORE}-b"))

    def watch():
        while not stop.is_set() and count() < 2:
            time.sleep(0.05)
        if stop.is_set():
            return
        emu.reject_next_upload = 400
        injected.append(f"refused upload after version count {count()}")
        mark = created()
        while not stop.is_set() and created() < mark + 2:
            time.sleep(0.05)
        if not stop.is_set():
            emu.fail_next_versions = 1
            injected.append(f"failed version after {created()} versions created")

    threading.Thread(target=watch, daemon=True).start()
    return injected


THIN_QUOTA_H = 0.5  # --thin-quota: the hours the account has left whenever a session pushes


def _keep_quota_thin(emu, stop) -> None:
    """--thin-quota: the week's total follows what is used (the running session's time included, charged live),
    so every push finds THIN_QUOTA_H hours left: less than a session, more than none. A push judged with its own
    session counted twice, or a chain that keeps a whole session in reserve, would stop there."""
    def follow():
        while not stop.is_set():
            emu.gpu_quota_total_hours = emu.gpu_quota_used_hours + THIN_QUOTA_H
            time.sleep(0.02)

    threading.Thread(target=follow, daemon=True).start()


def run(out: Path, self_chain: bool = False, fresh_account: bool = False, layout: str = "slug",
        kill_at_limit: bool = False, reference: Path | None = None, max_sessions: int = 20,
        prune_fault: bool = False, overlapping: bool = False, busy_account: bool = False,
        quota_hours: float = 0.0, method: str = "sft", init_run: Path | None = None,
        max_steps: int | None = None, session_steps: int = 0, thin_quota: bool = False) -> dict:
    """The whole path; returns the summary. The run is 200 steps. The uninterrupted reference run goes first
    and sizes the sessions to the machine: a session's budget (from kernel start, setup included) is
    SETUP_FACTOR times the reference's set-up plus its training time / SESSIONS_PER_RUN, so a run takes 3-5
    sessions on a fast or a slow machine, below an emulated 12-hour limit of twice that. With `kill_at_limit`
    the limit is that and the budget 4x longer: Kaggle kills every session mid-run, and the next resumes
    from the last pushed checkpoint. `method="grpo"` chains a GRPO run (GRPO_TRAINING) that starts from
    `init_run`, a finished local run of the demo preset, pushed to the store first and named by
    training.init_adapter=run:<its name>; the reference starts from the same adapter, given as a folder."""
    from kaggle_emulator import KaggleEmulator
    from kaggle_sessions import SESSION_HOURS, KaggleSessions, image_pins, offline_wheel_links

    if overlapping and self_chain:
        raise ValueError("--overlapping chains both runs from outside: leave out --self-chain")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    os.environ.setdefault("T2SQL_CACHE_DIR", str(out / "cache"))
    reference = reference or out / "reference"
    training, init_name, method_init = (GRPO_TRAINING if method == "grpo" else TRAINING), "", []
    training = [f"training.max_steps={max_steps}" if max_steps and p.startswith("training.max_steps=") else p
                for p in training]  # a shorter run: the reference (its own folder) is made with the same steps
    if method in ("grpo", "sample"):  # the reference starts from the same adapter, given as a folder
        from kaggle_t2sql.kaggle.bundle import run_name_of

        init_name = run_name_of(init_run)
        method_init = ["--method", method, "--init-adapter", f"run:{init_name}"]
    if method == "sample":
        if not session_steps:
            raise ValueError("method='sample' needs session_steps (questions per session)")
        training, method_init = [f"data.stages.0.limit={SAMPLE_QUESTIONS}"], method_init + SAMPLE_ARGS
        wall = reference_sample(reference, out / "reference-data", init_run)
        train = wall
    else:
        # A session pays its own set-up (kernel, install, pulls, model, data: about the reference's set-up, twice for
        # margin) and trains its share of the run, so the run takes 3-5 sessions however fast the machine is.
        wall = reference_seconds(reference, out / "reference-data", training, init_run)
        train = training_seconds(reference)
    session_s = max(SETUP_FACTOR * (wall - train) + train / SESSIONS_PER_RUN, 8.0)
    if session_steps:  # sessions cut by step count (budget.session_steps): the clock only has to leave them room
        session_s = max(STEP_BUDGET_ROOM * wall, STEP_BUDGET_FLOOR_S)
        training = [*training, f"budget.session_steps={session_steps}"]
    if overlapping:  # two chains' sessions share the machine: each trains at about half the speed of the reference
        session_s *= OVERLAP_SLOWDOWN
    limit_s, budget_s = (session_s, 4 * session_s) if kill_at_limit else (2 * session_s, session_s)
    # --quota-hours: a session's budget is 12 emulated hours (the limit, 2x the budget, is then 24 of them);
    # with --kill-at-limit every session runs to Kaggle's 12-hour limit, so a 24-hour week holds two
    time_scale, session_hours = ((SESSION_HOURS * 3600 / budget_s, 2 * SESSION_HOURS) if quota_hours and not kill_at_limit
                                 else (SESSION_HOURS * 3600 / limit_s, SESSION_HOURS))
    with KaggleEmulator(out / "kaggle-server", port=0) as emu:
        emu.gpu_quota_total_hours = quota_hours or 1000.0  # a week's 30 h covers ~2.5 real sessions
        env = emu.subprocess_env(out / "client")
        from kaggle_t2sql.train.tiny import tiny_model_dir

        sessions = KaggleSessions(emu, out / "kaggle-sessions", time_scale=time_scale, session_hours=session_hours,
                                  layout=layout, cache_dir=env["T2SQL_CACHE_DIR"]).attach()
        sessions.models[MODEL] = tiny_model_dir()  # the user's Kaggle Model holding the base weights
        if method in ("grpo", "sample"):
            from kaggle_t2sql.train.tiny import pretrained_model_dir

            sessions.models[MODEL] = pretrained_model_dir()  # the demo's base: its adapter's answers earn rewards
            print(_cli("kaggle_t2sql", "sync", "push", "--output-dir", str(init_run), "--store", f"kaggle:{STORE}",
                       env=env).stdout, end="", flush=True)  # the finished SFT run the GRPO run starts from
        # README step 2: a training subset, published as a dataset
        print(_cli("kaggle_t2sql", "prepare", "--source", "bundled", "--per-complexity", "30", "--out",
                   str(out / "subset"), "--publish", SUBSET, env=env).stdout.splitlines()[-1], flush=True)
        # step 3: the setup command; its `pip download` of requirements.txt reads ./dev's copy, not the network
        wheel_env = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(offline_wheel_links())}
        kernel = out / "kernel"
        init = ["kaggle_t2sql", "kaggle-init", "--user", USER, "--preset", "tiny", "--run-name", RUN,
                "--wheel",  # + requirements.txt's wheels: the emulated image has Kaggle's kaggle 2.0.2 (kaggle_sessions.py)
                "--folder", str(kernel), "--time-budget-minutes", str(budget_s / 60), "--eval-limit", "2",
                "--max-sessions", str(max_sessions), "--data-source", "jsonl",
                "--data-path", f"kaggle:{SUBSET}/pairs.jsonl", "--dataset-source", SUBSET,
                "--model-source", MODEL, "--set", f"model.name_or_path=kaggle-model:{MODEL}"]
        for pair in training:
            init += ["--set", pair]
        init += method_init
        if method in ("grpo", "sample"):  # no optional evaluation after each session: the demo model's answers take minutes
            init[init.index("--eval-limit") + 1] = "0"
        if self_chain:
            init.append("--self-chain")
        if fresh_account:
            init.append("--no-create-store")
        if prune_fault:
            init += ["--set", "store.max_versions=2"]
        print(_cli(*init, env=wheel_env).stdout, end="", flush=True)
        stop_faults = threading.Event()
        faults = _inject_pruning_faults(emu, stop_faults) if prune_fault else []
        peak = _watch_store_peak(emu, stop_faults)
        if thin_quota:
            _keep_quota_thin(emu, stop_faults)
        if overlapping:  # a second run with its own notebook, on the same checkpoint store
            init2 = [a for a in init if a not in ("--self-chain",)]
            init2[init2.index("--run-name") + 1] = RUN2
            init2[init2.index("--folder") + 1] = str(out / "kernel2")
            init2 += ["--kernel-slug", KERNEL2.split("/")[1]]
            print(_cli(*init2, env=wheel_env).stdout, end="", flush=True)
            sessions.attach_secret(KERNEL2, "KAGGLE_API_TOKEN", emu.token)
        # step 4: the first push creates the notebook; without the secret its session stops at once (shown on the
        # SFT path; the method variants attach the secret first and let `chain` create the notebook)
        without_secret = None
        if method == "sft":
            print(_cli("kaggle", "kernels", "push", "-p", str(kernel), env=env).stdout, end="", flush=True)
            sessions.wait_idle()
            first = sessions.records[-1]
            without_secret = {"status": first.status, "elapsed_s": round(first.elapsed_s, 1),
                              "names_the_secret": "add a secret named KAGGLE_API_TOKEN" in first.log}
            print(f"first session, no secret attached: {first.status} after {first.elapsed_s:.0f} s", flush=True)
        sessions.attach_secret(KERNEL, "KAGGLE_API_TOKEN", emu.token)  # Add-ons > Secrets, attached to the notebook
        if quota_hours:  # the quota week starts with the chain (the short failed first session is not counted)
            emu.gpu_quota_used_hours = 0.0
        chain_logs: list[str] = []
        quota_weeks = 0  # emulated weekly resets the run needed
        # step 5: chain from outside, or push once more and let the notebook push its successors
        if self_chain:
            print(_cli("kaggle", "kernels", "push", "-p", str(kernel), env=env).stdout, end="", flush=True)
            _wait_for_chain_end(emu, sessions, after=2 if without_secret else 1, deadline_s=max_sessions * limit_s * 2)
        else:
            second = None
            if overlapping:  # both chains at once: their sessions overlap and push to one store
                second = subprocess.Popen([sys.executable, "-m", "kaggle_t2sql", "chain", "--folder", str(out / "kernel2"),
                                           "--poll-seconds", "0.5", "--max-sessions", str(max_sessions)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(REPO))
            chain_cmd = ["kaggle_t2sql", "chain", "--folder", str(kernel), "--poll-seconds", "0.5", "--max-sessions",
                         str(max_sessions)]
            if busy_account:  # two other GPU sessions run; one ends about a session later
                emu.other_gpu_sessions = 2
                threading.Timer(min(budget_s, limit_s), lambda: setattr(emu, "other_gpu_sessions", 1)).start()
            if quota_hours:  # until the quota stops it, then the (emulated) weekly reset, and `chain` again
                for _ in range(MAX_QUOTA_WEEKS):
                    stdout, finished = _chain_until_refused(chain_cmd, env, max_sessions * limit_s * 3)
                    chain_logs.append(stdout)
                    print(stdout[-1500:], end="", flush=True)
                    if finished:
                        break
                    emu.gpu_quota_used_hours = 0.0  # the weekly reset
                    emu.quota_refresh_time = time.time() + 7 * 86400
                    quota_weeks += 1
            else:
                chain = _cli(*chain_cmd, env=env, timeout=max_sessions * limit_s * 3)
                chain_logs.append(chain.stdout)
                print(chain.stdout[-2000:], end="", flush=True)
            if second is not None:
                print(second.communicate(timeout=max_sessions * limit_s * 3)[0][-2000:], end="", flush=True)
        sessions.wait_idle()
        stop_faults.set()
        second_run = None
        if overlapping:
            run2 = out / "run2"
            _cli("kaggle_t2sql", "sync", "pull", "--output-dir", str(run2), "--store", f"kaggle:{STORE}", "--run-name",
                 RUN2, "--input-root", str(out / "no-input"), env=env)
            status2 = json.loads(_cli("kaggle_t2sql", "status", "--output-dir", str(run2), "--json", env=env).stdout)
            second_run = {"finished": status2["finished"], "global_step": status2["global_step"],
                          "sessions": len(status2["sessions"]),
                          "session_rows": session_rows(status2["sessions"], [r for r in sessions.records if r.ref == KERNEL2]),
                          "identical_to_uninterrupted": identical(run2, reference, status2["global_step"]),
                          "overlap_s": round(_overlap_s(sessions.records, KERNEL, KERNEL2), 1)}
        run_dir = out / "run"
        print(_cli("kaggle_t2sql", "sync", "pull", "--output-dir", str(run_dir), "--store", f"kaggle:{STORE}",
                   "--run-name", RUN, "--input-root", str(out / "no-input"), env=env).stdout, end="")
        if method == "sample":
            summary = sample_summary(run_dir, reference, [r for r in sessions.records if r.ref == KERNEL], emu,
                                     sessions, chain_logs, started)
            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            return summary
        status = json.loads(_cli("kaggle_t2sql", "status", "--output-dir", str(run_dir), "--json", env=env).stdout)
        records = [r for r in sessions.records if r.ref == KERNEL]
        summary = {
            "finished": status["finished"],
            "global_step": status["global_step"],
            "max_steps": status["max_steps"],
            "first_session_without_secret": without_secret,
            "sessions": session_rows(status["sessions"], records[1 if without_secret else 0:]),
            "run_dir": str(run_dir),
            "gpu_hours_used": round(emu.gpu_quota_used_hours, 2),
            "identical_to_uninterrupted": identical(run_dir, reference, status["global_step"]),
            "self_chain": self_chain,
            "fresh_account": fresh_account,
            "layout": layout,
            "killed_at_limit": kill_at_limit,
            "prune_fault": prune_fault,
            "faults_injected": faults,
            "faults_unused": [name for name, value in (("refused upload", emu.reject_next_upload),
                                                       ("failed version", emu.fail_next_versions)) if value],
            "store_versions": [f"{ref}/{v['number']}:{v['status']}" for ref in (STORE, f"{STORE}-b")
                               for v in emu.dataset_versions(ref)],
            "store_versions_peak": peak[0],
            "second_run": second_run,
            "pushes_without_machine_shape": [r.version for r in records if r.machine_shape != "NvidiaTeslaT4"],
            "busy_account": busy_account,
            "quota_hours": quota_hours,
            "thin_quota": thin_quota,
            "refusals": refusals(emu),
            "quota_weeks": quota_weeks,
            "chain_waits": sum(log.count("push refused, another GPU session of the account runs") for log in chain_logs),
            "chain_stops": [line for log in chain_logs for line in log.splitlines() if line.startswith("chain stopped")],
            "notebook_token": notebook_token_report(emu, sessions, run_dir),
            # the image's kaggle client, and the one each session's doctor line says it ran with (the upgraded one)
            "image_kaggle_client": image_pins()["kaggle"],
            "session_kaggle_clients": sorted({m for r in sessions.records
                                              for m in re.findall(r"kaggle client: kaggle (\S+)", r.log)}),
            "installed_by_sessions": sorted({d for r in sessions.records for d in r.installed()}),
            "session_budget_s": round(budget_s, 1),
            "session_limit_s": round(limit_s, 1),
            "wall_seconds": round(time.monotonic() - started, 1),
            "method": method,
            "init_adapter_run": init_name,
            "ledger": status["sessions"],
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


MAX_QUOTA_WEEKS = 6


def _chain_until_refused(cmd: list[str], env: dict, timeout: float) -> tuple[str, bool]:
    """`chain` under a quota: (its output, finished). It either finishes (exit 0) or stops at Kaggle's quota
    refusal (exit 1, the refusal in what it printed); anything else is a failure."""
    out = subprocess.run([sys.executable, "-m", *cmd], env=env, capture_output=True, text=True, timeout=timeout,
                         cwd=str(REPO))
    if out.returncode == 0:
        return out.stdout, True
    if out.returncode != 1 or "Maximum weekly GPU quota" not in out.stdout:
        raise RuntimeError(f"chain did not stop at the quota ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    return out.stdout, False


def reference_seconds(reference: Path, data_dir: Path, training: list[str] = TRAINING,
                      init_run: Path | None = None) -> float:
    """The uninterrupted local run of the same configuration (same data, same base weights), once per
    folder; returns its wall time (process start to end: imports, model, training, saves)."""
    timing = reference / "wall-seconds.txt"
    if not timing.is_file():
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        _cli("kaggle_t2sql", "prepare", "--source", "bundled", "--per-complexity", "30", "--out", str(data_dir),
             env=env)  # the subset that `prepare --publish` publishes in the run, built the same way
        cmd = ["kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(reference), "--no-progress",
               "--set", f"run_name={RUN}", "--set", "data.stages.0.source=jsonl", "--set", "data.stages.0.name=jsonl",
               "--set", f"data.stages.0.path={data_dir / 'pairs.jsonl'}"]
        for pair in training:
            cmd += ["--set", pair]
        if init_run is not None:  # GRPO: the pre-trained tiny base, from the init run's final checkpoint
            from kaggle_t2sql.checkpoints import KaggleCheckpointManager

            cmd += ["--set", "model.name_or_path=tiny-pretrained", "--set",
                    f"training.init_adapter={KaggleCheckpointManager(init_run).latest_valid()}"]
        t0 = time.monotonic()
        _cli(*cmd, env=env)
        timing.write_text(f"{time.monotonic() - t0:.2f}\n")
    return float(timing.read_text())


def reference_sample(reference: Path, data_dir: Path, init_run: Path) -> float:
    """The uninterrupted local `sample` run of the same questions, base weights, adapter and settings, once per
    folder; returns its wall time."""
    timing = reference / "wall-seconds.txt"
    if not timing.is_file():
        from kaggle_t2sql.checkpoints import KaggleCheckpointManager

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        _cli("kaggle_t2sql", "prepare", "--source", "bundled", "--per-complexity", "30", "--out", str(data_dir),
             env=env)  # the subset that `prepare --publish` publishes in the run, built the same way
        t0 = time.monotonic()
        _cli("kaggle_t2sql", "sample", "--preset", "tiny", "--set", "model.name_or_path=tiny-pretrained",
             "--adapter", str(KaggleCheckpointManager(init_run).latest_valid()), "--data", "jsonl", "--data-path",
             str(data_dir / "pairs.jsonl"), "--limit", str(SAMPLE_QUESTIONS), *SAMPLE_ARGS, "--out", str(reference),
             env=env)
        timing.write_text(f"{time.monotonic() - t0:.2f}\n")
    return float(timing.read_text())


SAMPLE_LINE = re.compile(r"sample (\w+) \((\w+)\): questions (\d+) -> (\d+) of (\d+)")


def sample_summary(run_dir: Path, reference: Path, records, emu, sessions, chain_logs: list[str], started: float) -> dict:
    """method="sample": each session's questions (from its log's result line), the pulled run's report, and
    whether its files equal the uninterrupted local run's byte for byte."""
    rows = []
    for record in records:
        found = SAMPLE_LINE.search(record.log)
        rows.append({"version": record.version, "status": record.status, "elapsed_s": round(record.elapsed_s, 1),
                     "start_step": int(found[3]) if found else None, "end_step": int(found[4]) if found else None,
                     "stop_reason": found[2] if found else None, "failure": record.failure_message})
    report = json.loads((run_dir / "report.json").read_text())
    return {
        "method": "sample", "finished": report["finished"], "global_step": report["done"], "max_steps": report["total"],
        "sessions": rows, "run_dir": str(run_dir), "report": report,
        "identical_to_uninterrupted": all((run_dir / f).read_bytes() == (reference / f).read_bytes() for f in SAMPLE_FILES),
        "refusals": refusals(emu), "chain_waits": 0, "second_run": None, "prune_fault": False,
        "chain_stops": [line for log in chain_logs for line in log.splitlines() if line.startswith("chain stopped")],
        "notebook_token": notebook_token_report(emu, sessions, run_dir), "gpu_hours_used": round(emu.gpu_quota_used_hours, 2),
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def training_seconds(run_dir: Path) -> float:
    """The Trainer's own train_runtime of a finished one-session run (its wall time less set-up and exit);
    every log line carries it so far in the session, so the last is the whole."""
    logs = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return max((e["train_runtime"] for e in logs if "train_runtime" in e), default=0.0)


def identical(run_dir: Path, reference: Path, step: int) -> bool:
    from safetensors.torch import load_file

    name = f"checkpoints/checkpoint-{step}/adapter_model.safetensors"
    if not (run_dir / name).is_file() or not (reference / name).is_file():
        return False
    a, b = load_file(str(run_dir / name)), load_file(str(reference / name))
    return a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--self-chain", action="store_true", help="the notebook pushes its own next session")
    parser.add_argument("--fresh-account", action="store_true", help="no checkpoint dataset before the first session")
    parser.add_argument("--layout", choices=["slug", "datasets"], default="slug", help="how Kaggle mounts inputs")
    parser.add_argument("--kill-at-limit", action="store_true",
                        help="budget longer than the limit: Kaggle kills every session mid-run")
    parser.add_argument("--reference", type=Path, help="an uninterrupted run of the same configuration to reuse")
    parser.add_argument("--prune-fault", action="store_true",
                        help="store.max_versions=2, one refused upload and one failed version in pruning pushes")
    parser.add_argument("--overlapping", action="store_true", help="a second run chained on the same store at once")
    parser.add_argument("--busy-account", action="store_true",
                        help="two other GPU sessions of the account run when the chain pushes (Kaggle's session cap)")
    parser.add_argument("--quota-hours", type=float, default=0.0,
                        help="the weekly GPU quota (e.g. 24: spent after two ~12-hour sessions; then an emulated reset)")
    parser.add_argument("--max-steps", type=int, default=200,
                        help="a shorter run where the machine is slow (sessions are sized from it all the same)")
    parser.add_argument("--thin-quota", action="store_true",
                        help=f"every push finds only {THIN_QUOTA_H} GPU hours left in the week (less than a session)")
    parser.add_argument("--session-steps", type=int, default=0,
                        help="end each session after this many steps (budget.session_steps) instead of by the clock")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    summary = run(args.out, args.self_chain, args.fresh_account, args.layout, args.kill_at_limit, args.reference,
                  prune_fault=args.prune_fault, overlapping=args.overlapping,
                  busy_account=args.busy_account, quota_hours=args.quota_hours, max_steps=args.max_steps,
                  session_steps=args.session_steps, thin_quota=args.thin_quota)
    for row in summary["sessions"]:
        print(f"session v{row['version']}: {row['status']:8s} steps {row['start_step']} -> {row['end_step']} "
              f"({row['stop_reason']}), {row['elapsed_s']} s")
    print(f"finished {summary['finished']} at step {summary['global_step']} of {summary['max_steps']}; "
          f"{len(summary['sessions'])} sessions; {summary['gpu_hours_used']} emulated GPU hours; "
          f"identical to an uninterrupted run: {summary['identical_to_uninterrupted']}; {summary['wall_seconds']} s")
    if summary["prune_fault"]:
        print(f"faults injected: {summary['faults_injected']}; store versions left: {summary['store_versions']}")
    second = summary["second_run"]
    if second:
        print(f"second run: finished {second['finished']} at step {second['global_step']}; identical to an "
              f"uninterrupted run: {second['identical_to_uninterrupted']}")
    from collections import Counter

    seen = "; ".join(f"{n} x {text}" for text, n in Counter(summary["refusals"]).items()) or "none"
    print(f"refusals seen: {seen}; chain waits for the session cap: {summary['chain_waits']}; "
          f"notebook token: {summary['notebook_token']}")
    for line in summary["chain_stops"]:
        print(line)
    print(f"summary: {args.out / 'summary.json'}")
    ok = summary["finished"] and summary["identical_to_uninterrupted"]
    return 0 if ok and (not second or (second["finished"] and second["identical_to_uninterrupted"])) else 1


if __name__ == "__main__":
    sys.exit(main())
