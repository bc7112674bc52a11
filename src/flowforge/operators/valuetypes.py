"""The value types the workflow validator tracks, and their text form in operator signatures.

    vote(answers: list) -> str
    retrieve(query: str, k: int = 3) -> list[str]
    answer_generate(input: str) -> {"thought": str, "answer": str}

    find_all(text: str, kind: "number" | "name") -> list[str]

A type is one of any, str, num (int, float, bool), none, list (with an element type) or dict
(with its keys, when known: an operator result; `{"a", "b"}` gives keys whose values are any).
A str may be one of listed values (`"number" | "name"`: a mode the operator switches on); a
literal argument outside them is a type error.
`any` is "cannot tell" and matches everything, so the checks never reject what they cannot see.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

KINDS = ("any", "str", "num", "none", "list", "dict")
_SCALAR_NAMES = {"any": "any", "str": "str", "int": "num", "float": "num", "bool": "num", "number": "num",
                 "none": "none", "None": "none"}


@dataclass(frozen=True)
class VType:
    kind: str
    item: "VType | None" = None  # list: element type
    fields: tuple[tuple[str, "VType"], ...] | None = None  # dict: known keys and value types
    choices: tuple[str, ...] | None = None  # str: the values it may take, when listed

    def __str__(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind == "list" and self.item is not None and self.item.kind != "any":
            return f"list[{self.item}]"
        if self.kind == "dict" and self.fields is not None:
            return "dict with keys " + ", ".join(f'"{k}"' for k, _ in self.fields)
        return {"num": "number"}.get(self.kind, self.kind)

    @property
    def keys(self) -> list[str] | None:
        return None if self.fields is None else [k for k, _ in self.fields]

    def field(self, key: str) -> "VType":
        return dict(self.fields or ()).get(key, ANY)


ANY, STR, NUM, NONE = VType("any"), VType("str"), VType("num"), VType("none")


def list_of(item: VType = ANY) -> VType:
    return VType("list", item)


def dict_of(fields: dict[str, VType] | None = None) -> VType:
    return VType("dict", None, None if fields is None else tuple(fields.items()))


def join(a: VType | None, b: VType | None) -> VType | None:
    """What a value is when it may be either (`None`: that path never gets here)."""
    if a is None or b is None:
        return b if a is None else a
    if a == b:
        return a
    if a.kind == b.kind == "list":
        return list_of(join(a.item or ANY, b.item or ANY))
    if a.kind == b.kind == "dict":
        return dict_of(None)
    return ANY


def accepts(param: VType, value: VType) -> bool:
    """Whether a value of type `value` can be what a parameter declared `param` expects.
    Scalars convert to one another (`str(3)`); containers only match their own kind."""
    if "any" in (param.kind, value.kind) or param.kind == value.kind:
        return True
    scalar = {"str", "num", "none"}
    return param.kind in scalar and value.kind in scalar


def parse_type(text: str) -> VType:
    """The type written `text` in a signature; ValueError if it is not one."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"{text!r} is not a type") from None
    return _from_node(node, text)


def _from_node(node: ast.AST, text: str) -> VType:
    if isinstance(node, ast.Name) and node.id in _SCALAR_NAMES:
        return VType(_SCALAR_NAMES[node.id])
    if isinstance(node, ast.Constant) and node.value is None:
        return NONE
    if isinstance(node, ast.Name) and node.id in ("list", "tuple"):
        return list_of()
    if isinstance(node, ast.Name) and node.id == "dict":
        return dict_of(None)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "list":
        return list_of(_from_node(node.slice, text))
    if _is_str(node) or isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return VType("str", choices=_choices(node, text))
    if isinstance(node, ast.Set) and all(_is_str(e) for e in node.elts):
        return dict_of({e.value: ANY for e in node.elts})
    if isinstance(node, ast.Dict) and all(_is_str(k) for k in node.keys):
        return dict_of({k.value: _from_node(v, text) for k, v in zip(node.keys, node.values)})
    raise ValueError(f"{text!r} is not a type; use any, str, int, float, bool, list, list[str], dict, "
                     '{"key", ...}, {"key": str, ...} or "value" | "value"')


def _choices(node: ast.AST, text: str) -> tuple[str, ...]:
    """The values of `"a" | "b" | ...`."""
    if _is_str(node):
        return (node.value,)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _choices(node.left, text) + _choices(node.right, text)
    raise ValueError(f"{text!r} is not a type; a list of values is written \"a\" | \"b\"")


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
