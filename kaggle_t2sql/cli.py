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


def _config(args):
    from .config import build_config

    return build_config(args.preset, args.config, args.set_args)


def cmd_config(args) -> int:
    print(yaml.safe_dump(_config(args).to_dict(), sort_keys=False), end="")
    return 0


def cmd_data(args) -> int:
    """Read, order, tokenize and pack the configured stages; print what a training run would see."""
    from .dataset import build_rows
    from .model import load_tokenizer

    cfg = _config(args)
    tokenizer = load_tokenizer(cfg.model)
    _rows, report = build_rows(cfg.data, tokenizer, cfg.training.batch_size)
    print("\n".join(report.lines()))
    return 0


def cmd_schema(args) -> int:
    from .schema import schema_text

    print(schema_text(args.db, args.value_limit))
    return 0


def cmd_train(args) -> int:
    """One session: resume from the run folder's latest valid checkpoint, or start fresh."""
    from .trainer import ResumableTrainer

    import os

    result = ResumableTrainer(_config(args), args.output_dir, progress=not args.no_progress).run()
    if os.environ.get("RANK", "0") == "0":  # under torchrun / accelerate launch, one process reports
        print_json(result.to_dict()) if args.json else print(result.summary())
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

    from .bundle import make_bundle
    from .checkpoints import KaggleCheckpointManager
    from .stores import open_store
    from .sync import pull_for_session

    store = open_store(args.store)
    if args.action == "push":
        with tempfile.TemporaryDirectory(prefix="t2sql-push-") as tmp:
            manifest = make_bundle(args.output_dir, tmp)
            version = store.push(tmp, note=f"step {manifest['global_step']}")
        print(f"pushed step {manifest['global_step']} ({manifest['checkpoint']}) to {store.uri} as version {version}")
    elif args.action == "pull":
        fingerprint = (KaggleCheckpointManager(args.output_dir).load_manifest() or {}).get("fingerprint")
        print(pull_for_session(args.output_dir, store, args.input_root, fingerprint).summary())
    else:
        print_json(store.status())
    return 0


def cmd_chain(args) -> int:
    """Push the training kernel session after session until the run is done (never while one runs)."""
    from pathlib import Path

    from .chain import run_chain
    from .errors import ConfigError
    from .kaggle_auth import kaggle_api
    from .stores import open_store

    folder = Path(args.folder)
    meta_path = folder / "kernel-metadata.json"
    if not meta_path.is_file():
        raise ConfigError(f"{meta_path} not found: run chain from the repo root or pass --folder")
    meta = json.loads(meta_path.read_text())
    kernel = args.kernel or meta["id"]
    if meta.get("id") != kernel:
        raise ConfigError(f"--kernel {kernel!r} differs from kernel-metadata.json id {meta.get('id')!r}: make them match")
    store_uri = args.store or (f"kaggle:{meta['dataset_sources'][0]}" if meta.get("dataset_sources") else "")
    if not store_uri:
        raise ConfigError("no checkpoint store: pass --store kaggle:owner/slug or list it in dataset_sources")
    api = kaggle_api()
    report = run_chain(api, kernel, folder, open_store(store_uri, api=api), max_sessions=args.max_sessions,
                       poll_s=args.poll_seconds)
    return 0 if report.stop_reason == "finished" or report.stop_reason.startswith("max sessions") else 1


def cmd_prepare(args) -> int:
    """Sample a training subset into a folder (and publish it as a Kaggle Dataset)."""
    from .config import StageConfig
    from .prepare import publish_folder, write_subset

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
    import subprocess
    import tempfile
    from pathlib import Path

    from .prepare import publish_folder

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="t2sql-wheel-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp, str(root)],
                       check=True)  # no build isolation: builds offline with the setuptools already installed
        if args.with_deps:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", tmp, "-r", str(root / "requirements.txt")],
                           check=True)
        names = sorted(p.name for p in Path(tmp).iterdir())
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
    from .pairs import out_of_sync, regenerate

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


def cmd_eval(args) -> int:
    """Generate with the 4-bit base (+ adapter), execute read-only, score; write the report files."""
    from .evaluate import EvalSettings, markdown_report, run_eval

    cfg = _config(args)
    settings = EvalSettings(data=args.data, data_path=args.data_path or "", split=args.split, limit=args.limit,
                            samples=args.samples, temperature=args.temperature, batch_size=args.batch_size,
                            max_new_tokens=args.max_new_tokens or (48 if cfg.model.name_or_path == "tiny" else 1024),
                            semantics=args.semantics, timeout=args.timeout, workers=args.workers)
    report = run_eval(cfg, settings, args.adapter, args.out_dir, progress=not args.no_progress)
    print(markdown_report(report))
    print(f"\nreport: {args.out_dir}/report.json, report.md, report.png, examples.jsonl")
    return 0


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
    p.add_argument("--input-root", default="/kaggle/input", help="where attached datasets are mounted (pull)")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("chain", help="push the Kaggle training kernel session after session until the run is done")
    p.add_argument("--kernel", help="owner/slug (default: the id in kernel-metadata.json)")
    p.add_argument("--folder", default=".", help="folder holding kernel-metadata.json")
    p.add_argument("--store", help="kaggle:owner/slug (default: the first dataset_sources entry)")
    p.add_argument("--max-sessions", type=int, default=10)
    p.add_argument("--poll-seconds", type=float, default=60.0)
    p.set_defaults(func=cmd_chain)

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
    p.add_argument("--adapter", help="a checkpoint-N folder (default: the base model alone)")
    p.add_argument("--data", default="bundled", choices=["bundled", "spider", "bird", "jsonl"])
    p.add_argument("--data-path", help="Spider/BIRD folder or JSONL file")
    p.add_argument("--split", default="dev")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--samples", type=int, default=1, help="> 1: self-consistency, vote by execution result")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=0, help="0: 1024 (48 for the tiny preset)")
    p.add_argument("--semantics", default="test-suite", choices=["test-suite", "bird"])
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--out-dir", default="eval")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_eval)

    from .scoring import add_score_arguments, run_score_command

    p = sub.add_parser("score", help="score predictions by execution (Spider test-suite or BIRD semantics)")
    add_score_arguments(p)
    p.set_defaults(func=run_score_command)

    p = sub.add_parser("demo", help="the main job on the embedded default: chained short sessions of the tiny preset")
    p.add_argument("--output-dir", help="run folder (default: runs/demo-<time>)")
    p.add_argument("--session-seconds", type=float, default=20.0, help="time budget of each session")
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
