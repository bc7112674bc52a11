"""Command-line options generated from a config dataclass, as TRL's `TrlParser` does: one
`--field-name` per field (help from the field's metadata, `--x/--no-x` for booleans,
comma-separated values for lists), plus `--config FILE.yaml` whose keys are the field names.
Precedence: flags given > the YAML file > the dataclass defaults. The dataclass validates the
result in `__post_init__`, so its messages can name the flags (`--field-name`) that exist.
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from flowforge.errors import UserError

_SCALARS = (bool, int, float, str, Path)


def flag(name: str) -> str:
    """The command-line flag of a config field."""
    return "--" + name.replace("_", "-")


def _field_type(hint: Any) -> tuple[type, bool]:
    """(scalar type, is_list) of a field annotation such as `int`, `Path | None`, `list[str] | None`."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True
    if hint not in _SCALARS:
        raise TypeError(f"config field type {hint!r} has no command-line form")
    return hint, False


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _coerce(value: Any, typ: type, is_list: bool, where: str) -> Any:
    """A YAML or flag value as the field's type; UserError naming `where` when it cannot be."""
    if value is None:
        return None
    if is_list:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise UserError(f"{where}: expected a list or a comma-separated string, got {value!r}")
        return [_coerce(v.strip() if isinstance(v, str) else v, typ, False, where) for v in items
                if not (isinstance(v, str) and not v.strip())]
    ok = {bool: isinstance(value, bool),
          int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, (str, int, float)) and not isinstance(value, bool),
          Path: isinstance(value, (str, Path))}[typ]
    if not ok:
        raise UserError(f"{where}: expected {typ.__name__.lower()}, got {value!r}")
    return typ(value)


def read_config_file(path: Path, cls: type) -> dict[str, Any]:
    """Settings from a YAML mapping whose keys are `cls`'s field names (`-` or `_`)."""
    import yaml

    if not path.is_file():
        raise UserError(f"--config {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"--config {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of setting: value, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    out = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; settings are {', '.join(names)}"
            raise UserError(f"--config {path}: unknown setting {key!r}{hint}")
        out[name] = value
    return out


def build_config(cls: type, values: dict[str, Any], source: Callable[[str], str] = flag) -> Any:
    """`cls(**values)` with each value coerced to its field's type; `source(name)` says where a
    value came from in error messages."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            typ, is_list = _field_type(hints[f.name])
            kwargs[f.name] = _coerce(values[f.name], typ, is_list, source(f.name))
        elif f.init and _default(f) is dataclasses.MISSING:
            raise UserError(f"{flag(f.name)} is required")
    return cls(**kwargs)


def config_command(app: typer.Typer, name: str, cls: type, run: Callable[[Any], None], *, help: str,
                   aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """Register `name` on `app`: options from `cls`'s fields (plus `aliases`, extra flag spellings),
    `--config FILE.yaml`; calls `run(cls(...))`."""
    aliases = aliases or {}
    hints = typing.get_type_hints(cls)
    params = [inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                                default=typer.Option(None, "--config", metavar="FILE.yaml",
                                                     help="YAML settings (keys: the option names); flags given override them."))]
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        typ, is_list = _field_type(hints[f.name])
        default = _default(f)
        decls = [f"{flag(f.name)}/--no-{flag(f.name)[2:]}"] if typ is bool else [flag(f.name), *aliases.get(f.name, ())]
        shown = "required" if default is dataclasses.MISSING else False if default is None else (
            ",".join(map(str, default)) if isinstance(default, list) else str(default))
        help_text = f.metadata.get("help", "") + (" Comma-separated." if is_list else "")
        params.append(inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str if is_list else typ],
            default=typer.Option(None, *decls, help=help_text, show_default=shown)))

    def command(**given: Any) -> None:
        config = given.pop("config")
        values = read_config_file(config, cls) if config else {}
        from_file = set(values)
        values.update({k: v for k, v in given.items() if v is not None})
        run(build_config(cls, values, lambda n: f"--config {config}: {n}" if n in from_file and given.get(n) is None
                         else flag(n)))

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = help
    command.__name__ = name
    app.command(name)(command)
