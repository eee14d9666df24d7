"""What the command handlers share: the run config from --preset/--config/--set, and JSON output."""

from __future__ import annotations

import json


def config_of(args):
    """The run config from --preset, --config and --set."""
    from .config_overrides import build_config

    return build_config(args.preset, args.config, args.set_args)


def inference_config_of(args):
    """The run config, with `--values on|off` applied to data.value_retrieval."""
    cfg = config_of(args)
    if getattr(args, "values", None):
        cfg.data.value_retrieval = args.values == "on"
    return cfg


def max_new_tokens_of(args, cfg) -> int:
    from .config_presets import default_max_new_tokens
    from .errors import ConfigError

    if args.max_new_tokens < 0:
        raise ConfigError(f"--max-new-tokens {args.max_new_tokens}: need 1 or more (0: the preset's default)")
    return args.max_new_tokens or default_max_new_tokens(cfg)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))
