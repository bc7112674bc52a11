"""Operator sets as data: YAML files validated with pydantic, plus the transforms used for
training augmentation and zero-shot evaluation (subset, rename, shuffle).

A set file holds `name` and `operators` (each: name, signature, description, impl, and `needs`:
the instance context it cannot work without, e.g. `[public_tests]`), or derives
from another set: `extends: default`, `include: [names]`, `rename: {old: new}`, then extra
`operators`. Descriptions refer to operators and arguments in backticks, so renaming rewrites
`old` mentions and leaves plain English ("answer format") alone.

Signatures declare value types (flowforge.operators.valuetypes), which the validator checks:
`vote(answers: list) -> str`; an argument written without a type accepts anything.
"""
from __future__ import annotations

import ast
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from flowforge.errors import UserError
from flowforge.operators.impls import impl_arguments, impl_function
from flowforge.operators.valuetypes import ANY, VType, parse_type

SETS_DIR = Path(__file__).parent / "sets"
_SIG = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*?)\)\s*->\s*(\S.*?)\s*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Param:
    name: str
    required: bool
    default: object = None
    type: VType = ANY


_ENUM = re.compile(r':\s*"[^"]*"(?:\s*\|\s*"[^"]*")*')  # `: "a" | "b"` in a signature


def parse_signature(sig: str) -> tuple[str, list[Param], str]:
    """`name(a: str, b: int = 3) -> out` -> (name, params, out). ValueError on malformed text."""
    m = _SIG.match(sig)
    if not m:
        raise ValueError(f"signature must look like 'name(arg, ...) -> output', got {sig!r}")
    params = []
    for part in filter(None, (p.strip() for p in m.group(2).split(","))):
        head, eq, default = (s.strip() for s in part.partition("="))
        pname, colon, ptype = (s.strip() for s in head.partition(":"))
        if not _IDENT.match(pname):
            raise ValueError(f"bad argument name {pname!r} in {sig!r}")
        params.append(Param(pname, not eq, ast.literal_eval(default) if eq else None,
                            parse_type(ptype) if colon else ANY))
    parse_type(m.group(3))
    return m.group(1), params, m.group(3)


def _check_name(v: str) -> str:
    if not _IDENT.match(v) or v.startswith("_"):
        raise ValueError(f"{v!r} is not a valid operator name (identifier, no leading underscore)")
    return v


class OperatorSpec(BaseModel):
    """One operator: how the generator sees it (signature, description) and what backs it (impl)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    signature: str
    description: str
    impl: str
    needs: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_name(v)

    @field_validator("description")
    @classmethod
    def _one_paragraph(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("description is empty")
        return v

    @field_validator("needs")
    @classmethod
    def _known_context(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from flowforge.tasks.task import CONTEXT_KINDS

        unknown = [k for k in v if k not in CONTEXT_KINDS]
        if unknown:
            raise ValueError(f"unknown context kind {unknown[0]!r}; known: {', '.join(CONTEXT_KINDS)}")
        return v

    @field_validator("impl")
    @classmethod
    def _importable(cls, v: str) -> str:
        impl_function(v)  # a built-in key, or package.module:function that imports
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "OperatorSpec":
        name, params, _ = parse_signature(self.signature)
        if name != self.name:
            raise ValueError(f"signature names {name!r} but the operator is {self.name!r}")
        want = [(p.name, p.required) for p in params]
        have = impl_arguments(impl_function(self.impl))
        if want != have:
            raise ValueError(f"signature arguments {want} do not match impl {self.impl!r} {have}")
        return self

    @property
    def params(self) -> list[Param]:
        return parse_signature(self.signature)[1]

    @property
    def returns(self) -> str:
        return parse_signature(self.signature)[2]

    @property
    def result_type(self) -> VType:
        return parse_type(self.returns)

    @property
    def shown_signature(self) -> str:
        """The signature as the generator's prompt shows it: listed values appear as `str` (the
        description names them; the prompt stays short)."""
        return _ENUM.sub(": str", self.signature)


class _SetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    extends: str | None = None
    include: list[str] | None = None
    rename: dict[str, str] = {}
    operators: list[OperatorSpec] = []


@dataclass(frozen=True)
class OperatorSet:
    """An ordered, named collection of operators. A set bound to a task (`for_task`) keeps the
    operators that task's instances cannot serve apart, in `unavailable`."""

    name: str
    operators: tuple[OperatorSpec, ...]
    unavailable: tuple[OperatorSpec, ...] = ()
    task: str | None = None  # the task it is bound to

    def __post_init__(self):
        names = [op.name for op in self.operators]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise UserError(f"operator set {self.name!r}: duplicate operator names {sorted(dup)}")

    @property
    def names(self) -> list[str]:
        return [op.name for op in self.operators]

    def get(self, name: str) -> OperatorSpec | None:
        return next((op for op in self.operators if op.name == name), None)

    def describe(self) -> str:
        """Compact text for the generator prompt: one line per operator."""
        lines = ["Operators (call as `await ops.NAME(arg=value)`):"]
        lines += [f"- {op.shown_signature}: {op.description}" for op in self.operators]
        return "\n".join(lines)

    def for_task(self, task) -> "OperatorSet":
        """The operators `task` can serve: those whose `needs` its instances provide."""
        have = task.provides
        every = self.operators + self.unavailable
        keep = tuple(op for op in every if set(op.needs) <= have)
        gone = tuple(op for op in every if not set(op.needs) <= have)
        return OperatorSet(self.name, keep, gone, task.name)

    def subset(self, names: list[str], name: str | None = None) -> "OperatorSet":
        unknown = [n for n in names if self.get(n) is None]
        if unknown:
            raise UserError(f"operator set {self.name!r} has no operators {unknown}; it has {self.names}")
        keep = set(names)
        return OperatorSet(name or f"{self.name}-subset", tuple(op for op in self.operators if op.name in keep))

    def renamed(self, mapping: dict[str, str], name: str | None = None) -> "OperatorSet":
        """Rename operators; signatures and backticked mentions in every description follow."""
        unknown = [o for o in mapping if self.get(o) is None]
        if unknown:
            raise UserError(f"operator set {self.name!r} has no operators {unknown} to rename")
        for new in mapping.values():
            _check_name(new)
        pattern = re.compile(r"`(" + "|".join(map(re.escape, mapping)) + r")`") if mapping else None

        def sub(text: str) -> str:
            return pattern.sub(lambda m: f"`{mapping[m.group(1)]}`", text) if pattern else text

        ops = tuple(
            OperatorSpec(
                name=mapping.get(op.name, op.name),
                signature=re.sub(r"^\s*\w+", mapping.get(op.name, op.name), op.signature, count=1),
                description=sub(op.description), impl=op.impl, needs=op.needs,
            )
            for op in self.operators
        )
        return OperatorSet(name or f"{self.name}-renamed", ops)

    def shuffled(self, rng: random.Random) -> "OperatorSet":
        ops = list(self.operators)
        rng.shuffle(ops)
        return OperatorSet(self.name, tuple(ops))


def available_sets() -> list[str]:
    return sorted(p.stem for p in SETS_DIR.glob("*.yaml"))


def _where(loc: tuple) -> str:
    return "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".") or "(top)"


def _add_import_root(raw: object, path: Path) -> None:
    """A set naming `package.module:function` impls can import them from beside its YAML file."""
    ops = raw.get("operators") if isinstance(raw, dict) else None
    if isinstance(ops, list) and any(isinstance(op, dict) and ":" in str(op.get("impl", "")) for op in ops):
        root = str(path.resolve().parent)
        if root not in sys.path:
            sys.path.insert(0, root)


def load_operator_set(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> OperatorSet:
    """A bundled set by name ("default", "qa", "math", "code", "novel") or a YAML file path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        path = SETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise UserError(f"unknown operator set {str(name_or_path)!r}; available: {', '.join(available_sets())}")
    if not path.is_file():
        raise UserError(f"operator set file {path} does not exist" + (" (it is a directory)" if path.is_dir() else ""))
    if str(path) in _seen:
        raise UserError(f"{path}: `extends` forms a cycle")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.MarkedYAMLError as e:  # one line: file:line and the problem, not PyYAML's multi-line report
        where = f":{e.problem_mark.line + 1}" if e.problem_mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({e.problem or ' '.join(str(e).split())})") from None
    except yaml.YAMLError as e:  # e.g. ReaderError (a control character): no line mark
        raise UserError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    _add_import_root(raw, path)
    try:
        spec = _SetFile.model_validate(raw if raw is not None else {})
    except ValidationError as e:
        err = e.errors()[0]
        raise UserError(f"{path}: field {_where(err['loc'])}: {err['msg']}") from None
    ops: list[OperatorSpec] = []
    if spec.extends:
        base = load_operator_set(spec.extends, _seen + (str(path),))
        if spec.include is not None:
            for i, n in enumerate(spec.include):
                if base.get(n) is None:
                    raise UserError(f"{path}: field include[{i}]: {n!r} is not in set {base.name!r}")
            base = base.subset(spec.include)
        for i, old in enumerate(spec.rename):
            if base.get(old) is None:
                raise UserError(f"{path}: field rename.{old}: no operator {old!r} to rename")
        ops = list(base.renamed(spec.rename).operators)
    elif spec.include or spec.rename:
        raise UserError(f"{path}: field include/rename needs `extends`")
    try:
        return OperatorSet(spec.name, tuple(ops + spec.operators))
    except UserError as e:
        raise UserError(f"{path}: field operators: {e}") from None
