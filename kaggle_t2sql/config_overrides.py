"""Overrides on a preset: from a YAML file, `--set key=value` on the command line, or a plain dict (papermill
parameters). Keys are dotted paths (`training.learning_rate`); unknown keys and bad values raise ConfigError
naming the key, the value and what is allowed."""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from .config import RunConfig
from .config_checks import validate
from .config_presets import preset
from .errors import ConfigError


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Turn `value` into type `tp` or raise ConfigError naming key, value and what is allowed."""

    def bad(allowed: str) -> ConfigError:
        return ConfigError(f"bad value for {key!r}: {value!r} (expected {allowed})")

    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise bad(_type_name(tp))
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str) and item_tp is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad(_type_name(tp))
        return [_coerce(f"{key}.{i}", v, item_tp) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad(f"a mapping of {tp.__name__} fields")
        obj = tp()
        _apply(obj, value, key + ".")
        return obj
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise bad("true or false")
    if tp is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise bad("an integer")
    if tp is float:
        if isinstance(value, bool):
            raise bad("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise bad("a number")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad("a string")
    raise bad(_type_name(tp))  # pragma: no cover - every field type is handled above


def _apply(obj: Any, mapping: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for raw_key, value in mapping.items():
        head, _, rest = str(raw_key).partition(".")
        key = prefix + head
        if head not in names:
            raise ConfigError(f"unknown key {key!r} (allowed: {', '.join(prefix + n for n in names)})")
        tp = hints[head]
        current = getattr(obj, head)
        if rest:
            if dataclasses.is_dataclass(current):
                _apply(current, {rest: value}, key + ".")
            elif isinstance(current, list) and dataclasses.is_dataclass(typing.get_args(tp)[0]):
                index, _, field_rest = rest.partition(".")
                if not index.isdigit() or int(index) >= len(current) or not field_rest:
                    raise ConfigError(
                        f"unknown key {prefix + raw_key!r}: use {key}.N.<field> with N below {len(current)}"
                    )
                _apply(current[int(index)], {field_rest: value}, f"{key}.{index}.")
            else:
                raise ConfigError(f"unknown key {prefix + raw_key!r}: {key!r} has no sub-keys")
        elif dataclasses.is_dataclass(current) and isinstance(value, dict):
            _apply(current, value, key + ".")
        else:
            setattr(obj, head, _coerce(key, value, tp))


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return a copy of `cfg` with nested or dotted-key overrides applied and validated."""
    out = copy.deepcopy(cfg)
    _apply(out, dict(overrides))
    validate(out)
    return out


def parse_set_args(pairs: list[str]) -> dict[str, Any]:
    """`["training.max_steps=20", ...]` -> {"training.max_steps": 20}; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --set {pair!r}: write it as key=value, e.g. training.max_steps=100")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found: pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, not {type(data).__name__}")
    return data


def build_config(
    preset_name: str,
    config_file: str | Path | None = None,
    set_args: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Preset, then YAML file, then a dict (papermill), then `--set` pairs: later wins."""
    cfg = preset(preset_name)
    merged: list[dict[str, Any]] = []
    if config_file:
        data = load_yaml(config_file)
        if "preset" in data and data["preset"] != preset_name:
            cfg = preset(str(data["preset"]))
        merged.append({k: v for k, v in data.items() if k != "preset"})
    if overrides:
        merged.append(dict(overrides))
    if set_args:
        merged.append(parse_set_args(set_args))
    for layer in merged:
        cfg = apply_overrides(cfg, layer)
    validate(cfg)
    return cfg


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig saved with `to_dict` (e.g. from a run manifest)."""
    data = dict(data)
    cfg = preset(data.pop("preset", "arctic-7b-t4"))
    return apply_overrides(cfg, data)


def make_config(
    preset: str,
    run_name: str = "",
    time_budget_minutes: float = 0.0,
    store: str = "",
    data_source: str = "",
    data_path: str = "",
    per_complexity: int = 0,
    limit: int = 0,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Papermill parameters -> RunConfig; empty / zero values keep the preset's choice."""
    layer: dict[str, Any] = {}
    if run_name:
        layer["run_name"] = run_name
    if time_budget_minutes:
        layer["budget.session_minutes"] = time_budget_minutes
    if store:
        layer["store.uri"] = store
    if data_source:
        layer["data.stages.0.source"] = data_source
        layer["data.stages.0.name"] = data_source
    if data_path:
        layer["data.stages.0.path"] = data_path
    if per_complexity:
        layer["data.stages.0.per_complexity"] = per_complexity
    if limit:
        layer["data.stages.0.limit"] = limit
    layer.update(overrides or {})
    return build_config(preset, overrides=layer)
