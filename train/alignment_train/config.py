"""Reading a stage's settings: dataclass defaults, then a TOML file, then ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any


class ConfigError(ValueError):
    """A bad setting or a missing file: reported as one sentence, without a traceback."""


def parse_config(cls: type[Any], file: str | None, sets: list[str]) -> Any:
    """Build a config from defaults, then a TOML file, then ``key=value`` overrides."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if file:
        if not os.path.exists(file):
            raise ConfigError(f"config file {file} does not exist")
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10: the same parser, from PyPI
            import tomli as tomllib

        with open(file, "rb") as fh:
            values.update(tomllib.load(fh))
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        values[key.strip()] = raw.strip()
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid keys: "
                          + ", ".join(sorted(fields)))
    cfg = cls()
    for key, value in values.items():
        setattr(cfg, key, _coerce(key, value, getattr(cfg, key)))
    return cfg


def _coerce(key: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except ValueError:
        raise ConfigError(f"{key} expects a {type(default).__name__}, got {value!r}") from None
