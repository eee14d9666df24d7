"""`kaggle-t2sql` command line: thin wrappers over the package; errors print one clear line."""

from __future__ import annotations

import argparse
import sys

from .cli_infer import cmd_ask, cmd_eval, cmd_export, cmd_prompts, cmd_sample, cmd_serve
from .cli_kaggle import cmd_chain, cmd_doctor, cmd_kaggle_init, cmd_notebooks, cmd_prepare, cmd_publish_wheel, cmd_sync
from .cli_train import cmd_config, cmd_data, cmd_demo, cmd_schema, cmd_status, cmd_train
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
    p.add_argument("--method", default="sft", choices=["sft", "grpo", "dpo", "orpo", "sample"],
                   help="the sessions' training method, or `sample`: sessions of `kaggle-t2sql sample` from "
                        "--init-adapter on the data (docs/learning-from-execution.md)")
    p.add_argument("--samples", type=int, default=None, help="--method sample: candidates per question (8)")
    p.add_argument("--temperature", type=float, default=None, help="--method sample: sampling temperature (0.8)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="--method sample: new tokens per candidate (0, the default: Arctic's 8192; the tiny models' own)")
    p.add_argument("--gold-as-chosen", action="store_true",
                   help="--method sample: a question with no correct candidate pairs the gold SQL with its nearest wrong one")
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
    p.add_argument("--adapter", help="a checkpoint-N folder, or run:NAME (a finished run of --store); default: the base")
    p.add_argument("--samples", type=int, default=8, help="candidates per question")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--max-new-tokens", type=int, default=0, help="0: Arctic's 8192 (48 / 160 for the tiny models)")
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
