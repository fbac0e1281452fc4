"""Reading a stage's settings: dataclass defaults, then a TOML file, then ``key=value`` overrides.

No torch here (the command line reads settings before it imports the stages). A TOML file
holds ``key = value`` lines for the stage being run and may hold one table per stage
(``[dpo]`` then ``beta = 0.3``), which wins over the top-level keys for that stage and is
ignored by the others; on the command line ``dpo.beta=0.3`` does the same.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from collections.abc import Collection
from typing import Any


class ConfigError(ValueError):
    """A bad setting or a missing file: reported as one sentence, without a traceback."""


class UnknownSetting(ConfigError):
    """A key that the stage's config does not have (``keys``, from ``source``)."""

    def __init__(self, message: str, keys: list[str], source: str) -> None:
        super().__init__(message)
        self.keys, self.source = keys, source


def read_toml(file: str) -> dict[str, Any]:
    """The TOML file as a dict, or a one-sentence :class:`ConfigError` (with line and column
    for a syntax error)."""
    if os.path.isdir(file):
        raise ConfigError(f"--config {file} is a folder; pass a TOML file (key = value lines)")
    if not os.path.exists(file):
        raise ConfigError(f"config file {file} does not exist")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, from PyPI (a dependency there)
        try:
            import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError("reading --config on Python 3.10 needs the tomli package: "
                              "pip install tomli") from None
    try:
        with open(file, "rb") as fh:
            return dict(tomllib.load(fh))
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line L, column C)"
        raise ConfigError(f"config file {file} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not valid TOML: it is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"config file {file} cannot be read: {e.strerror or e}") from None


def parse_config(cls: type[Any], file: str | None, sets: list[str], stage: str | None = None,
                 stages: Collection[str] = ()) -> Any:
    """Build ``cls`` from its defaults, then a TOML file, then ``key=value`` overrides.

    ``stage`` names the stage being configured (in messages, and to pick its ``[stage]``
    table / ``stage.key=`` overrides); ``stages`` lists every stage name, so that settings
    meant for another stage are skipped rather than rejected.
    """
    name = stage or cls.__name__
    fields = {f.name: f for f in dataclasses.fields(cls)}
    cfg = cls()
    layers: list[tuple[str, dict[str, Any]]] = []
    if file:
        data = read_toml(file)
        top = {k: v for k, v in data.items() if not (k in stages and isinstance(v, dict))}
        layers.append((f"config file {file}", top))
        if stage is not None and isinstance(data.get(stage), dict):
            layers.append((f"the [{stage}] table of {file}", dict(data[stage])))
    overrides: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = (s.strip() for s in item.split("=", 1))
        head, dot, rest = key.partition(".")
        if dot and head in stages:  # dpo.beta=0.3: for one stage only
            if head != stage:
                continue
            key = rest
        overrides[key] = raw
    layers.append(("--set", overrides))
    for source, values in layers:
        unknown = sorted(set(values) - set(fields))
        if unknown:
            s = "s" if len(unknown) > 1 else ""
            close = difflib.get_close_matches(unknown[0], fields, n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            raise UnknownSetting(f"{name} has no setting{s} {', '.join(unknown)} (from {source}); "
                                 f"{guess}its settings are: {', '.join(sorted(fields))}",
                                 unknown, source)
        for key, value in values.items():
            setattr(cfg, key, coerce(key, value, fields[key].type, getattr(cfg, key)))
    return cfg


_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def coerce(key: str, value: Any, annotation: Any, default: Any) -> Any:
    """``value`` (a string from ``--set`` or a TOML value) as the type of the field."""
    kind = next((t for t in (bool, int, float, str)
                 if isinstance(default, t) or annotation in (t, t.__name__)), None)
    if kind is None:  # a field type the command line does not parse: keep the value as given
        return value
    bad = ConfigError(f"{key} expects {_WORDS[kind]}, got {value!r}")
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise bad
            return text.lower() in ("true", "1")
        try:
            return kind(text)
        except ValueError:
            raise bad from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:  # TOML values are typed: 2.5 is not an int, "2" not a number
        raise bad
    return value
