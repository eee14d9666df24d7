"""The run folder's commands: config, data, schema, train, status, demo."""

from __future__ import annotations

import yaml

from .cli_common import config_of, print_json


def cmd_config(args) -> int:
    print(yaml.safe_dump(config_of(args).to_dict(), sort_keys=False), end="")
    return 0


def cmd_data(args) -> int:
    """Read, order, tokenize and pack the configured stages; print what a training run would see."""
    from .data.dataset import build_rows
    from .train.model import load_tokenizer

    cfg = config_of(args)
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
    from .train.session_result import SessionFailed
    from .train.trainer import ResumableTrainer

    reporter = os.environ.get("RANK", "0") == "0"  # under torchrun / accelerate launch, one process reports

    def report(result) -> None:
        if reporter:
            print_json(result.to_dict()) if args.json else print(result.summary())
            if args.result_file:
                atomic.write_json(args.result_file, result.to_dict())

    start = monotonic_from_epoch(args.started_at) if args.started_at else None
    try:
        report(ResumableTrainer(config_of(args), args.output_dir, session_start=start, progress=not args.no_progress).run())
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
