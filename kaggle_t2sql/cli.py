"""`kaggle-t2sql` command line: thin wrappers over the package; errors print one clear line."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from .errors import T2SQLError


def _add_config_args(p: argparse.ArgumentParser, default_preset: str | None = None) -> None:
    p.add_argument("--preset", default=default_preset, required=default_preset is None, help="tiny | arctic-7b-t4")
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

    result = ResumableTrainer(_config(args), args.output_dir, progress=not args.no_progress).run()
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
