"""`kaggle-t2sql` command line: thin wrappers over the package; errors print one clear line."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from .errors import T2SQLError


def _add_config_args(p: argparse.ArgumentParser, default_preset: str | None = None) -> None:
    p.add_argument("--preset", default=default_preset, required=default_preset is None, help="tiny | demo | arctic-7b-t4")
    p.add_argument("--config", help="YAML file of overrides")
    p.add_argument("--set", dest="set_args", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set training.max_steps=100 (repeatable)")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="bundled", choices=["bundled", "spider", "bird", "jsonl"])
    p.add_argument("--data-path", help="Spider/BIRD folder or JSONL file")
    p.add_argument("--split", default="dev")
    p.add_argument("--limit", type=int, default=0)


def _config(args):
    from .config import build_config

    return build_config(args.preset, args.config, args.set_args)


def cmd_config(args) -> int:
    print(yaml.safe_dump(_config(args).to_dict(), sort_keys=False), end="")
    return 0


def cmd_data(args) -> int:
    """Read, order, tokenize and pack the configured stages; print what a training run would see."""
    from .data.dataset import build_rows
    from .train.model import load_tokenizer

    cfg = _config(args)
    tokenizer = load_tokenizer(cfg.model)
    _rows, report = build_rows(cfg.data, tokenizer, cfg.training.batch_size)
    print("\n".join(report.lines()))
    return 0


def cmd_schema(args) -> int:
    from .data.schema import schema_text

    print(schema_text(args.db, args.value_limit))
    return 0


def cmd_train(args) -> int:
    """One session: resume from the run folder's latest valid checkpoint, or start fresh."""
    import os

    import torch.distributed as dist

    from . import atomic
    from .kaggle.env import monotonic_from_epoch
    from .runlock import RunFolderBusy
    from .train.trainer import ResumableTrainer, SessionFailed

    reporter = os.environ.get("RANK", "0") == "0"  # under torchrun / accelerate launch, one process reports

    def report(result) -> None:
        if reporter:
            print_json(result.to_dict()) if args.json else print(result.summary())
            if args.result_file:
                atomic.write_json(args.result_file, result.to_dict())

    start = monotonic_from_epoch(args.started_at) if args.started_at else None
    try:
        report(ResumableTrainer(_config(args), args.output_dir, session_start=start, progress=not args.no_progress).run())
    except SessionFailed as exc:  # the newest checkpoint was pushed; the result says why training stopped
        report(exc.result)
        if reporter:
            raise
        return 1
    except RunFolderBusy:
        if reporter:
            raise  # one line, from one process
        return 2
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()  # else every NCCL rank warns at exit (pytorch#126275)
    return 0


def cmd_status(args) -> int:
    from pathlib import Path

    from .checkpoints import KaggleCheckpointManager
    from .demo import session_table
    from .errors import ConfigError

    manager = KaggleCheckpointManager(args.output_dir)
    if not Path(args.output_dir).is_dir():
        raise ConfigError(f"--output-dir {args.output_dir!r} does not exist: give the run folder used with train")
    status = manager.status()
    if args.json:
        print_json({k: v for k, v in status.items() if k != "loss_history"})
        return 0
    print(f"run {status['run_id']}: step {status['global_step']} of {status['max_steps']}, "
          f"{'finished' if status['finished'] else 'not finished'}, loss {status['loss']}")
    print(f"latest checkpoint: {status['latest_checkpoint']}")
    print(session_table(status["sessions"], status["loss_history"]))
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.output_dir, session_seconds=args.session_seconds, max_sessions=args.max_sessions,
             overrides=args.set_args, progress=not args.no_progress)
    return 0


def cmd_sync(args) -> int:
    """push: the latest valid checkpoint as a new store version; pull: the best one into the run folder."""
    import tempfile

    from .checkpoints import KaggleCheckpointManager
    from .errors import ConfigError
    from .kaggle.bundle import run_name_of, write_version
    from .kaggle.store_uri import open_store
    from .kaggle.sync import carry_dir, pull_for_session

    store = open_store(args.store)
    if args.action == "push":
        with tempfile.TemporaryDirectory(prefix="t2sql-push-") as tmp:
            name = run_name_of(args.output_dir)
            manifest = write_version(tmp, args.output_dir, carry_dir(args.output_dir))["runs"][name]
            version = store.commit(tmp, note=f"step {manifest['global_step']}", run_name=name,
                                   carry=carry_dir(args.output_dir)).id
        print(f"pushed run {name} step {manifest['global_step']} ({manifest['checkpoint']}) to {store.uri} as version {version}")
    elif args.action == "pull":
        run = KaggleCheckpointManager(args.output_dir).load_manifest() or {}
        config = run.get("config") or ({"run_name": args.run_name} if args.run_name else None)
        if config is None:  # an empty folder: the store's only run, if it holds exactly one
            names = sorted((store.index() or {}).get("runs", {}))
            if len(names) != 1:
                raise ConfigError(f"{args.output_dir} holds no run yet and {store.uri} holds "
                                  f"{'runs ' + ', '.join(names) if names else 'no run'}: "
                                  "pass --run-name NAME to pull one run of the store")
            config = {"run_name": names[0]}
        print(pull_for_session(args.output_dir, store, args.input_root, config, run.get("plan")).summary())
    else:
        print_json(store.status())
    return 0


def cmd_chain(args) -> int:
    """Push the training kernel session after session until the run is done (never while one runs)."""
    from .kaggle.auth import check_client, kaggle_api
    from .kaggle.chain import run_chain
    from .kaggle.kernel import load_spec
    from .kaggle.store_uri import open_store

    spec = load_spec(args.folder)
    spec.check()
    check_client()
    api = kaggle_api()
    report = run_chain(api, spec.kernel, args.folder, open_store(f"kaggle:{spec.store}", api=api),
                       spec.config().run_name, max_sessions=args.max_sessions, poll_s=args.poll_seconds,
                       wait_running=not args.no_wait, cap_wait_s=args.cap_wait_minutes * 60)
    return 0 if report.stop_reason == "finished" or report.stop_reason.startswith("max sessions") else 1


def cmd_doctor(args) -> int:
    """What a Kaggle session needs, one line per check with its fix; exit 1 on a session-wasting failure."""
    from .kaggle.doctor import doctor
    from .kaggle.kernel import load_spec

    store, wheel = args.store, ""
    if args.folder:
        spec = load_spec(args.folder)
        store, wheel = store or f"kaggle:{spec.store}", spec.wheel_dataset
    checks = doctor(store, need_gpu=args.need_gpu, wheel_dataset=wheel)
    return 1 if any(c.fatal and not c.ok for c in checks) else 0


def cmd_kaggle_init(args) -> int:
    """From zero to a kernel ready to chain: checks, datasets, kernel-metadata.json + parameterized notebook."""
    from .kaggle.auth import check_client
    from .kaggle.init import init_kernel

    spec = kernel_spec_of(args)
    check_client()
    for line in init_kernel(spec, args.folder, publish_wheel=args.wheel, wheel_deps=not args.no_wheel_deps,
                            create_store=not args.no_create_store):
        print(line)
    return 0


def kernel_spec_of(args):
    """kaggle-init's arguments as the KernelSpec (its --method / --init-adapter / --pairs as settings)."""
    from .config import parse_set_args
    from .kaggle.kernel import KernelSpec

    overrides, data_source, data_path = parse_set_args(args.set_args), args.data_source, args.data_path
    overrides.update(method_overrides(args))
    if args.pairs:  # dpo / orpo: the pairs.jsonl of a `sample` run is the stage
        data_source, data_path = "pairs", args.pairs
    return KernelSpec(
        user=args.user, kernel_slug=args.kernel_slug, store_slug=args.store_slug, preset=args.preset,
        run_name=args.run_name, data_source=data_source, data_path=data_path,
        per_complexity=args.per_complexity, limit=args.limit, time_budget_minutes=args.time_budget_minutes,
        overrides=overrides, package_source=args.package_source,
        dataset_sources=list(args.dataset_source), model_sources=list(args.model_source),
        internet=not args.no_internet, self_chain=args.self_chain, max_sessions=args.max_sessions,
        eval_limit=args.eval_limit, wheel_dataset=f"{args.user}/{args.wheel_slug}" if args.wheel else "")


def method_overrides(args) -> dict:
    """kaggle-init's --method / --init-adapter / --pairs as settings (checked with the rest by KernelSpec.check)."""
    from .errors import ConfigError

    if args.pairs and args.method not in ("dpo", "orpo"):
        raise ConfigError(f"--pairs feeds --method dpo or orpo, not {args.method}")
    if args.method in ("dpo", "orpo") and not args.pairs:
        raise ConfigError(f"--method {args.method} trains on preference pairs: pass --pairs kaggle:<you>/<dataset>/"
                          "pairs.jsonl (a `kaggle-t2sql sample` run's pairs.jsonl, published and attached with "
                          "--dataset-source)")
    out = {"training.method": args.method} if args.method != "sft" else {}
    if args.init_adapter:
        out["training.init_adapter"] = args.init_adapter
    return out


def cmd_prepare(args) -> int:
    """Sample a training subset into a folder (and publish it as a Kaggle Dataset)."""
    from .config import StageConfig
    from .kaggle.prepare import publish_folder, write_subset

    stage = StageConfig(name="subset", source=args.source, path=args.path or "", split=args.split,
                        per_complexity=args.per_complexity, limit=args.limit)
    summary = write_subset(stage, args.out, seed=args.seed)
    print_json(summary)
    if args.publish:
        version = publish_folder(args.publish, args.out, note=f"{summary['examples']} examples")
        print(f"published {args.out} as {args.publish} version {version}")
    return 0


def cmd_publish_wheel(args) -> int:
    """Build the package wheel (+ the wheels Kaggle's image lacks) and publish them as a dataset."""
    import tempfile
    from pathlib import Path

    from .kaggle.wheels import build_wheels
    from .kaggle.prepare import publish_folder

    with tempfile.TemporaryDirectory(prefix="t2sql-wheel-") as tmp:
        names = build_wheels(tmp, with_deps=args.with_deps)
        if args.dataset:
            version = publish_folder(args.dataset, tmp, note="kaggle_t2sql wheel")
            print(f"published {', '.join(names)} as {args.dataset} version {version}")
        else:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for name in names:
                (out / name).write_bytes((Path(tmp) / name).read_bytes())
            print(f"wrote {', '.join(names)} to {out}")
    return 0


def cmd_notebooks(args) -> int:
    """Regenerate every notebooks/*.ipynb from its jupytext .py source (or --check they match)."""
    from .data.pairs import out_of_sync, regenerate

    if args.check:
        stale = out_of_sync(args.folder)
        if stale:
            print(f"out of sync with their .py: {', '.join(stale)}; run: kaggle-t2sql notebooks", file=sys.stderr)
            return 1
        print("notebooks in sync")
        return 0
    for path in regenerate(args.folder):
        print(f"wrote {path}")
    return 0


def _inference_config(args):
    """The run config, with `--values on|off` applied to data.value_retrieval."""
    cfg = _config(args)
    if getattr(args, "values", None):
        cfg.data.value_retrieval = args.values == "on"
    return cfg


def _max_new_tokens(args, cfg) -> int:
    from .config import default_max_new_tokens
    from .errors import ConfigError

    if args.max_new_tokens < 0:
        raise ConfigError(f"--max-new-tokens {args.max_new_tokens}: need 1 or more (0: the preset's default)")
    return args.max_new_tokens or default_max_new_tokens(cfg)


def cmd_eval(args) -> int:
    """Generate with the 4-bit base (+ adapter), execute read-only, score; write the report files."""
    from .eval.evaluate import EvalSettings, markdown_report, run_eval

    cfg = _inference_config(args)
    settings = EvalSettings(data=args.data, data_path=args.data_path or "", split=args.split, limit=args.limit,
                            samples=args.samples, temperature=args.temperature, vote=args.vote,
                            fix_rounds=args.fix_rounds, batch_size=args.batch_size,
                            max_new_tokens=_max_new_tokens(args, cfg),
                            semantics=args.semantics, timeout=args.timeout, workers=args.workers)
    report = run_eval(cfg, settings, args.adapter, args.out_dir, progress=not args.no_progress)
    print(markdown_report(report))
    print(f"\nreport: {args.out_dir}/report.json, report.md, report.png, examples.jsonl")
    return 0


def cmd_sample(args) -> int:
    """Sample candidates per question, judge them by execution; write samples/rft/pairs .jsonl (resumable)."""
    from .eval.sampling import SampleSettings, run_sample

    cfg = _config(args)
    settings = SampleSettings(data=args.data, data_path=args.data_path or "", split=args.split, limit=args.limit,
                              samples=args.samples, temperature=args.temperature,
                              max_new_tokens=args.max_new_tokens or (160 if cfg.model.name_or_path.startswith("tiny") else 1024),
                              seed=args.seed, timeout=args.timeout, workers=args.workers, save_every=args.save_every,
                              gold_as_chosen=args.gold_as_chosen)
    store = None
    if args.store:
        from .kaggle.store_uri import open_store

        store = open_store(args.store)
    report = run_sample(cfg, settings, args.adapter, args.out, store=store, name=args.run_name)
    if args.json:
        print_json(report)
    else:
        k = f"pass@{settings.samples}"
        print(f"{report['questions']} questions, {report['candidates']} candidates: {report['share_with_correct']:.3f} with a "
              f"correct one, pass@1 {report['pass@1']:.3f}, {k} {report[k]:.3f}, mean reward {report['mean_reward']:.3f}, "
              f"{report['candidates_per_second_this_session']:.2f} candidates/s this session")
        print(f"wrote {args.out}/samples.jsonl, rft.jsonl, pairs.jsonl, report.json")
    return 0


def cmd_prompts(args) -> int:
    """Write the exact prompt of every question of a dataset (JSONL: db_id, question, prompt, schema, ...)."""
    from .eval.evaluate import EvalSettings, load_eval_examples
    from .infer.prompt_file import write_prompts
    from .train.model import load_tokenizer

    cfg = _inference_config(args)
    examples = load_eval_examples(EvalSettings(data=args.data, data_path=args.data_path or "", split=args.split,
                                               limit=args.limit))
    n = write_prompts(examples, load_tokenizer(cfg.model), cfg.data, args.out, progress=not args.no_progress)
    print(f"wrote {n} prompts to {args.out} (value retrieval {'on' if cfg.data.value_retrieval else 'off'})")
    return 0


def _ask_settings(args, cfg):
    from .infer.ask import AskSettings

    settings = AskSettings(samples=args.samples, temperature=args.temperature, vote=args.vote,
                           fix_rounds=args.fix_rounds, max_new_tokens=_max_new_tokens(args, cfg), timeout=args.timeout,
                           max_rows=args.max_rows, data=cfg.data)  # validates: before a model is loaded
    return settings


def cmd_ask(args) -> int:
    """Answer one question about a SQLite file: SQL, the first rows of its result, timings."""
    from .infer.ask import ask, check_database, check_question
    from .infer.engine import load_for_inference

    cfg = _inference_config(args)
    settings = _ask_settings(args, cfg)
    check_question(args.question), check_database(args.db)  # fail before loading a model
    model, tokenizer = load_for_inference(cfg, args.adapter)
    answer = ask(model, tokenizer, args.db, args.question, settings, evidence=args.evidence)
    if args.json:
        print_json(answer.to_dict())
        return 0
    print(f"SQL:\n{answer.sql or '(the model wrote no SQL block)'}\n")
    if answer.hit_token_cap:
        print(f"note: the answer was cut at --max-new-tokens {settings.max_new_tokens} before it finished\n")
    print(answer.table())
    t = answer.timings
    print(f"\ntime: {t['total']:.2f} s (prompt {t['prompt']:.2f}, generation {t['generation']:.2f}, "
          f"execution {t['execution']:.3f}, correction {t['correction']:.2f}; {answer.fix_rounds} fix round(s))")
    return 0


def cmd_serve(args) -> int:
    """Load the model once and answer POST /ask over HTTP."""
    from .infer.engine import load_for_inference
    from .errors import ConfigError
    from .infer.serve import ServeSettings, create_app, database_map, require_serve_extra, serve

    require_serve_extra()  # before loading a model
    cfg = _inference_config(args)
    settings = _ask_settings(args, cfg)
    given = {k: getattr(args, k) for k in ("sql_lanes", "max_pending", "request_timeout") if getattr(args, k) is not None}
    limits = ServeSettings(**given)  # validates: before a model is loaded
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: use 0-65535")
    databases = database_map(args.db, args.db_dir)
    model, tokenizer = load_for_inference(cfg, args.adapter)
    print(f"serving {len(databases)} database(s) ({', '.join(sorted(databases))}) on http://{args.host}:{args.port}")
    serve(create_app(model, tokenizer, databases, settings, serve_settings=limits), args.host, args.port)
    return 0


def cmd_export(args) -> int:
    """Merge the adapter into the 16-bit base and write a transformers/vLLM-loadable folder."""
    from pathlib import Path

    from .infer.export import describe, export_merged

    out = export_merged(_config(args), args.adapter, args.out, dtype=args.dtype, max_shard_size=args.max_shard_size)
    print(describe(Path(out)))
    return 0


def _add_inference_args(p: argparse.ArgumentParser, fix_rounds: int) -> None:
    p.add_argument("--adapter", help="a checkpoint-N folder (default: the base model alone)")
    p.add_argument("--samples", type=int, default=1, help="> 1: self-consistency, one SQL chosen by --vote")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature when --samples > 1")
    p.add_argument("--vote", default="soft", choices=["soft", "exact"],
                   help="soft: Arctic's result-similarity vote (default); exact: OmniSQL's majority of identical results")
    p.add_argument("--fix-rounds", type=int, default=fix_rounds,
                   help=f"self-correction rounds when the SQL fails or returns no rows (default {fix_rounds})")
    p.add_argument("--values", choices=["on", "off"], help="value retrieval in the prompt (default: the config's, on)")
    p.add_argument("--max-new-tokens", type=int, default=0,
                   help="0: Arctic's 8192 (48 for the tiny preset, 160 for demo)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per query")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaggle-t2sql", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="print the resolved run configuration as YAML")
    _add_config_args(p, "tiny")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("data", help="build the training data of a preset and print its statistics")
    _add_config_args(p, "tiny")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("schema", help="print the schema text (db_details) of a SQLite file")
    p.add_argument("db")
    p.add_argument("--value-limit", type=int, default=2)
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("train", help="run one training session (resumes by itself)")
    _add_config_args(p)
    p.add_argument("--output-dir", required=True, help="the run folder (checkpoints, ledger, logs)")
    p.add_argument("--json", action="store_true", help="print the session result as JSON")
    p.add_argument("--result-file", help="also write the session result as JSON to this file (atomically)")
    p.add_argument("--started-at", type=float, default=0.0,
                   help="epoch seconds at which the session started (the time budget counts from there; default: now)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("status", help="progress of a run folder")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--json", action="store_true", help="stable keys: finished, global_step, latest_checkpoint, sessions")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sync", help="push / pull / inspect checkpoints in a store (local:/path or kaggle:owner/slug)")
    p.add_argument("action", choices=["push", "pull", "status"])
    p.add_argument("--output-dir", required=True, help="the run folder")
    p.add_argument("--store", required=True, help="local:/path or kaggle:owner/slug")
    p.add_argument("--input-root", default="", help="where attached datasets are mounted (pull; default: Kaggle's)")
    p.add_argument("--run-name", default="", help="pull: the run to pull into an empty run folder")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("kaggle-init", help="set up the Kaggle training kernel: datasets, kernel-metadata.json, notebook")
    p.add_argument("--user", required=True, help="your Kaggle username (must match the credentials)")
    p.add_argument("--folder", default="kaggle-kernel", help="where to write the kernel folder (default: kaggle-kernel)")
    p.add_argument("--preset", default="arctic-7b-t4", help="tiny | arctic-7b-t4")
    p.add_argument("--run-name", default="", help="name of the run (a new name starts a new run beside the others)")
    p.add_argument("--kernel-slug", default="kaggle-t2sql-train")
    p.add_argument("--store-slug", default="kaggle-t2sql-checkpoints", help="the checkpoint dataset's slug")
    p.add_argument("--data-source", default="", help="synsql | spider | bird | jsonl | bundled (default: the preset's)")
    p.add_argument("--data-path", default="", help="e.g. kaggle:<you>/synsql-subset/pairs.jsonl")
    p.add_argument("--per-complexity", type=int, default=0)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--time-budget-minutes", type=float, default=0.0, help="per session (default: the preset's)")
    p.add_argument("--set", dest="set_args", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dataset-source", action="append", default=[], metavar="OWNER/SLUG",
                   help="attach another dataset (e.g. the training subset); repeatable")
    p.add_argument("--model-source", action="append", default=[], metavar="OWNER/MODEL/FRAMEWORK/VARIATION/VERSION",
                   help="attach a Kaggle Model (e.g. the base model, with --set model.name_or_path=kaggle-model:...)")
    p.add_argument("--wheel", action="store_true", help="build and publish the wheel dataset (offline installs) and attach it")
    p.add_argument("--wheel-slug", default="kaggle-t2sql-wheel")
    p.add_argument("--no-wheel-deps", action="store_true",
                   help="with --wheel: only this package's wheel (the image has the rest, or the notebook has internet)")
    p.add_argument("--package-source", default="", help="pip spec installed when no wheel is attached (needs internet)")
    p.add_argument("--no-internet", action="store_true")
    p.add_argument("--self-chain", action="store_true", help="each session pushes the next one itself")
    p.add_argument("--max-sessions", type=int, default=10, help="with --self-chain: stop after this many sessions")
    p.add_argument("--eval-limit", type=int, default=20)
    p.add_argument("--no-create-store", action="store_true",
                   help="do not create the checkpoint dataset now (the first session creates it)")
    p.add_argument("--method", default="sft", choices=["sft", "grpo", "dpo", "orpo"],
                   help="the sessions' training method (docs/learning-from-execution.md)")
    p.add_argument("--init-adapter", default="",
                   help="the adapter a new run starts from: run:NAME (a finished run of the checkpoint store) or "
                        "kaggle:<you>/<dataset>/checkpoint-N (attach it with --dataset-source)")
    p.add_argument("--pairs", default="", help="dpo/orpo: the pairs.jsonl, e.g. kaggle:<you>/<dataset>/pairs.jsonl")
    p.set_defaults(func=cmd_kaggle_init)

    p = sub.add_parser("chain", help="push the Kaggle training kernel session after session until the run is done")
    p.add_argument("--folder", default="kaggle-kernel", help="the kernel folder written by kaggle-init")
    p.add_argument("--max-sessions", type=int, default=10)
    p.add_argument("--poll-seconds", type=float, default=60.0)
    p.add_argument("--no-wait", action="store_true",
                   help="refuse (instead of waiting) when a version of the kernel is queued or running")
    p.add_argument("--cap-wait-minutes", type=float, default=180.0,
                   help="how long to wait and retry while Kaggle refuses the push for the account's GPU session cap")
    p.set_defaults(func=cmd_chain)

    p = sub.add_parser("doctor", help="check what a Kaggle session needs (GPU, credentials, secret, internet, quota, wheels)")
    p.add_argument("--store", default="", help="the checkpoint store (kaggle:owner/slug)")
    p.add_argument("--folder", default="", help="a kernel folder written by kaggle-init (its store and wheel dataset)")
    p.add_argument("--need-gpu", action="store_true", help="no usable GPU is a failure")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("prepare", help="sample a training subset (e.g. SynSQL) into a folder / Kaggle Dataset")
    p.add_argument("--source", required=True, choices=["synsql", "spider", "bird", "jsonl", "bundled"])
    p.add_argument("--path", help="the source dataset folder or JSONL file")
    p.add_argument("--split", default="train")
    p.add_argument("--per-complexity", type=int, default=0)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="output folder (pairs.jsonl + databases/)")
    p.add_argument("--publish", help="owner/slug: also publish the folder as a private Kaggle Dataset")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("publish-wheel", help="build the wheel and publish it as a Kaggle Dataset for offline installs")
    p.add_argument("--dataset", help="owner/slug of the (private) wheel dataset")
    p.add_argument("--out", default="dist", help="without --dataset: write the wheels here")
    p.add_argument("--with-deps", action="store_true", help="also the wheels of requirements.txt (for offline sessions)")
    p.set_defaults(func=cmd_publish_wheel)

    p = sub.add_parser("notebooks", help="regenerate notebooks/*.ipynb from their .py sources (jupytext)")
    p.add_argument("--folder", default="notebooks")
    p.add_argument("--check", action="store_true", help="only check; exit 1 when a pair is out of sync")
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser("eval", help="generate SQL with base + adapter and score it by execution")
    _add_config_args(p, "tiny")
    _add_data_args(p)
    _add_inference_args(p, fix_rounds=0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--semantics", default="test-suite", choices=["test-suite", "bird"])
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--out-dir", default="eval")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("prompts", help="write the exact prompt of every question of a dataset as JSONL")
    _add_config_args(p, "tiny")
    _add_data_args(p)
    p.add_argument("--values", choices=["on", "off"], help="value retrieval (default: the config's, on)")
    p.add_argument("--out", required=True, help="output .jsonl")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser("ask", help="answer a question about a SQLite file: SQL, rows, timings")
    _add_config_args(p, "tiny")
    p.add_argument("--db", required=True, help="the SQLite file")
    p.add_argument("question")
    p.add_argument("--evidence", default="", help="external knowledge, put before the question (as BIRD's evidence)")
    _add_inference_args(p, fix_rounds=2)
    p.add_argument("--max-rows", type=int, default=20, help="rows to show")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="answer questions over HTTP (POST /ask); needs the `serve` extra")
    _add_config_args(p, "tiny")
    p.add_argument("--db", action="append", default=[], metavar="[NAME=]FILE", help="a SQLite file to serve (repeatable)")
    p.add_argument("--db-dir", action="append", default=[], help="serve every *.sqlite / *.db under this folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    _add_inference_args(p, fix_rounds=2)
    p.add_argument("--max-rows", type=int, default=20, help="rows per answer")
    p.add_argument("--sql-lanes", type=int, default=None,
                   help="generated queries that run side by side (default: up to 4, one per CPU)")
    p.add_argument("--max-pending", type=int, default=None,
                   help="requests in progress at once; one more gets 503 (default 16)")
    p.add_argument("--request-timeout", type=float, default=None,
                   help="seconds a request may take, waiting included; then 503 (default 600)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="merge the adapter into the 16-bit base; write safetensors + tokenizer")
    _add_config_args(p, "tiny")
    p.add_argument("--adapter", required=True, help="a checkpoint-N folder")
    p.add_argument("--out", required=True, help="a new (or empty) folder")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--max-shard-size", default="2GB")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sample", help="sample candidates, judge them by execution; write samples/rft/pairs .jsonl")
    _add_config_args(p, "demo")
    _add_data_args(p)
    p.set_defaults(split="train")
    p.add_argument("--adapter", help="a checkpoint-N folder (default: the base model alone)")
    p.add_argument("--samples", type=int, default=8, help="candidates per question")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--max-new-tokens", type=int, default=0, help="0: 1024 (160 for the tiny models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per query")
    p.add_argument("--workers", type=int, default=1, help="sandbox workers judging candidates")
    p.add_argument("--save-every", type=int, default=4, help="questions between progress saves")
    p.add_argument("--gold-as-chosen", action="store_true",
                   help="a question with no correct candidate pairs the gold SQL (as chosen) with its nearest wrong one")
    p.add_argument("--out", required=True, help="output folder (a rerun carries on where a cut run stopped)")
    p.add_argument("--store", default="", help="a checkpoint store (local:/path, kaggle:owner/slug, ...): progress is "
                   "pushed after every save and pulled first, so a run in a fresh folder carries on")
    p.add_argument("--run-name", default="", help="with --store: the sample run's name in the store")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sample)

    from .eval.scoring import add_score_arguments, run_score_command

    p = sub.add_parser("score", help="score predictions by execution (Spider test-suite or BIRD semantics)")
    add_score_arguments(p)
    p.set_defaults(func=run_score_command)

    p = sub.add_parser("demo", help="the main job on the embedded default: chained short sessions of the demo preset, then "
                                        "the trained adapter answers questions")
    p.add_argument("--output-dir", help="run folder (default: runs/demo-<time>)")
    p.add_argument("--session-seconds", type=float, default=20.0, help="time budget of each session (the first ones are paced shorter on a fast machine)")
    p.add_argument("--max-sessions", type=int, default=20)
    p.add_argument("--set", dest="set_args", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except T2SQLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
