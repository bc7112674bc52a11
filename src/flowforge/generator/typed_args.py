"""Type-aware constrained decoding: an operator call's keyword argument cannot be closed (by its
`,` or `)`) while its value has a static type the parameter cannot take.

`TypedOpsConstraint` is the operator-call automaton (`generator/constrain.py`) plus a check that
depends on the text, not only on the automaton state: `row_banned`, which a token-masking backend
calls per row and step (llm/constrain.py). Inside the value of a typed parameter it finds the
tokens that would end the value and bans those whose value the validator's own type inference
(`workflow.validate.types_at` / `value_errors`, the rule `type`) types as something the parameter
cannot take, or finds a type error in (`problem["answer"]` on a str). So `text=answers` cannot be
closed when `answers` is a list and `text` wants a str, while `text=answers[0]` can. The same
holds for a one-line `return VALUE` of `solve`: its line (or the text: an end-of-sequence token;
or the statement: a comment, a `;`, a closing ``` fence) cannot end while VALUE is a list or dict
(the answer must be a string). And the text cannot end (an end-of-sequence token, a closing
fence) before `solve` has a `return` line. Inside a string literal for a parameter whose signature
lists its values (`kind: "number" | "name"`), only tokens that keep spelling one of them are left.

Why at the end of the value: a name whose type is wrong alone is often the right start
(`answers` -> `answers[0]`); only the finished value has a type. One start is banned too: where
a list or dict is wanted, the whole name of a str or number (`solutions=problem`). Its only
finishes (`problem.split()`) are rarely what was meant, and the 135M generator, once it has
written the name and cannot close it, wanders (`problem["answer"]=={}`, measured); this is the
one place the check removes text the validator would accept.

Why not a state of the automaton: the types of names depend on the whole workflow so far, and
the automaton's states collapse names so that masks can be cached. The cached part here is
small: per (bracket depth, string state), which tokens end a value and the text each adds before
its closer (a few dozen distinct texts in a 49k vocabulary). The names' types are inferred once
per argument, at its `key=`, by running the validator on the workflow so far with a probe name in
place of the value. Whatever cannot be typed (a prefix that does not parse, a name of unknown
type) is `any` and never banned. In a loop body every name is `any` (a later statement of the
body may rebind it). A comprehension clause written after the value (`[f(x) for x in xs]`) is
not seen: a name it rebinds keeps the type it had before.
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowforge.generator.constrain import _CLOSE, _IDENT, _OPEN, OpsConstraint, State
from flowforge.workflow.validate import types_at, value_errors

if TYPE_CHECKING:
    from flowforge.operators import OperatorSet

PROBE = "flowforge_value_probe"
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_MEMO_MAX = 512
TYPED_RULES = 6  # this check's version in cache keys (3: returns; 4: end of text, range(); 5: LINE_ENDS, early ends; 6: listed values)
_TRIPLE = re.compile(r'""".*?(?:"""|$)|\'\'\'.*?(?:\'\'\'|$)', re.S)  # docstrings, closed or not
_RETURN = re.compile(r"^[ \t]+return\b", re.M)
LINE_ENDS = "#;`"  # besides a newline, these end a return statement's value (a fence ends the code)


@dataclass(frozen=True)
class TypedOpsConstraint(OpsConstraint):
    """`OpsConstraint` plus argument types (`signatures` identify them; `opset` types them)."""

    signatures: tuple[str, ...] = ()
    opset: Any = field(default=None, compare=False, hash=False, repr=False)
    _memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # vocabulary tables
    _envs: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # prefix -> names' types

    @classmethod
    def for_opset(cls, opset: "OperatorSet") -> "TypedOpsConstraint":
        base = OpsConstraint.for_opset(opset)
        return cls(base.ops, base.prefix, tuple(sorted(op.signature for op in opset.operators)), opset)

    def key(self) -> list:
        return super().key() + [list(self.signatures), TYPED_RULES]

    def row_banned(self, state: State, text: str, pieces: list[str]) -> list[int]:
        """Tokens that would end the current argument value (after `text`, in `state`) with a
        value of a type its parameter cannot take."""
        frames = state[0]
        if self.opset is None:
            return []
        if not frames:
            return self._return_ends(state, text, pieces) + self._early_ends(text, pieces)
        if frames[-1].phase != "val":
            return []
        where = self.value_start(text)
        if where is None:
            return []
        start, op, key = where
        spec = self.opset.get(op)
        param = next((p for p in spec.params if p.name == key), None) if spec else None
        if param is None or param.type.kind == "any":
            return []
        if param.type.choices is not None and self._in_literal(text[start:], state.text):
            return self._off_choices(text[start:].lstrip(), param.type.choices, pieces)
        env = self._env(text[:start])
        if env is None:
            return []
        value, out = text[start:], self._scalar_starts(text[start:], env, param.type, pieces)
        for before, ids in self._ends(frames[-1].depth, state[3], pieces).items():
            if value_errors(value + before, env, self.opset, op, key):
                out += ids
        return out

    @staticmethod
    def _in_literal(value: str, text_state) -> bool:
        """Whether `value` is so far one open one-line string literal (`"nu`)."""
        head = value.lstrip()
        if not head or head[0] not in "\"'" or head[0] in head[1:]:
            return False
        return text_state in (("pend", head[0], 1), ("str", head[0], False, 0, False))

    def _off_choices(self, head: str, choices: tuple[str, ...], pieces: list[str]) -> list[int]:
        """Inside a string literal for a parameter that lists its values (`kind="nu`): the tokens
        that would leave every value, or close the literal on none of them."""
        q, written = head[0], head[1:]

        def build():
            out = []
            for i, piece in enumerate(pieces):
                j = piece.find(q)
                ok = (written + piece[:j] in choices if j >= 0
                      else bool(piece) and any(c.startswith(written + piece) for c in choices))
                if not ok:
                    out.append(i)
            return out
        return self._per_vocab(("choices", q, written, choices), pieces, build)

    def _return_ends(self, state: State, text: str, pieces: list[str]) -> list[int]:
        """In a one-line `return VALUE` of `solve`: the tokens that would end the line with a
        list or dict (the answer must be a string) or a value with a type error."""
        line_start = text.rfind("\n") + 1
        line = text[line_start:]
        body = line.lstrip(" ")
        if not body.startswith("return ") or len(line) == len(body):  # solve's body is indented
            return []
        depth, text_state = self._line_state(body)
        if text_state is not None and text_state[0] == "#":
            return []
        start = line_start + len(line) - len(body) + len("return ")
        env = self._env(text[:start])
        if env is None:
            return []
        out = []
        for before, ids in self._ends(depth, text_state, pieces, line=True).items():
            if value_errors(text[start:] + before, env, self.opset):
                out += ids
        return out

    def _early_ends(self, text: str, pieces: list[str]) -> list[int]:
        """Once `solve` is begun and until it has a `return` line: the tokens that would end the
        text (an end-of-sequence token, a closing fence). A body of only a docstring is not a
        workflow."""
        begun = text.find("async def solve")
        if begun < 0 or _RETURN.search(_TRIPLE.sub("", text[begun:])):
            return []
        return self._per_vocab(("text_ends",), pieces,
                               lambda: [i for i, piece in enumerate(pieces) if not piece or "```" in piece])

    def _per_vocab(self, key: tuple, pieces: list[str], build):
        """`build()`, memoised per key and vocabulary (`pieces`; an id may be reused by a new list)."""
        key = (*key, id(pieces))
        if self._memo.get(key, (None,))[0] is not pieces:
            self._memo[key] = pieces, build()
        return self._memo[key][1]

    def _scalar_starts(self, value: str, env: dict, want, pieces: list[str]) -> list[int]:
        """Where a list or dict is wanted and the value so far is at most a partial name: the
        tokens that would write the whole name of a str or number (`solutions=problem`)."""
        head = value.lstrip()
        if want.kind not in ("list", "dict") or not all(c in _IDENT for c in head):
            return []
        bare, spaced = self._names(pieces)
        out: list[int] = []
        for name, t in env.items():
            if t.kind in ("str", "num", "none") and name.startswith(head):
                rest = name[len(head):]
                out += bare.get(rest, []) + (spaced.get(rest, []) if not head else [])
        return out

    def _names(self, pieces: list[str]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Tokens by the identifier characters they start with: (no leading space, leading space)."""
        def build():
            bare: dict[str, list[int]] = {}
            spaced: dict[str, list[int]] = {}
            for i, piece in enumerate(pieces):
                body = piece.lstrip(" ")
                n = next((j for j, c in enumerate(body) if c not in _IDENT), len(body))
                if n:
                    (spaced if len(body) < len(piece) else bare).setdefault(body[:n], []).append(i)
            return bare, spaced
        return self._per_vocab(("names",), pieces, build)

    def value_start(self, text: str) -> tuple[int, str, str] | None:
        """(index where the innermost argument value begins, operator, key) after `text`."""
        state: State | None = self.initial
        starts: list[tuple[int, str, str] | None] = []
        for i, ch in enumerate(text):
            before = state[0]
            state = self._step(state, ch)
            if state is None:
                return None
            after = state[0]
            if len(after) > len(before):
                starts.append(None)
            elif len(after) < len(before):
                starts.pop()
            elif after and after[-1].phase == "val" and before[-1].phase != "val":
                starts[-1] = (i + 1, after[-1].op, before[-1].key)
        return starts[-1] if starts else None

    def _env(self, prefix: str) -> dict | None:
        """Names' types where a value starts after `prefix` (memoised per prefix)."""
        if prefix not in self._envs:
            if len(self._envs) >= _MEMO_MAX:
                self._envs.clear()
            self._envs[prefix] = types_at(probe_source(prefix), self.opset, PROBE)
        return self._envs[prefix]

    def _ends(self, depth: int, text_state, pieces: list[str], line: bool = False) -> dict[str, list[int]]:
        """Tokens that end a value here (an argument's, or with `line` a statement's): the text
        each adds before its closer -> their ids."""
        def build():
            ends: dict[str, list[int]] = {}
            for i, piece in enumerate(pieces):
                j = self._closer(depth, text_state, piece, line)
                if j is not None:
                    ends.setdefault(piece[:j], []).append(i)
            return ends
        return self._per_vocab(("ends", depth, text_state, line), pieces, build)

    def _closer(self, depth: int, text_state, piece: str, line: bool = False) -> int | None:
        """Index in `piece` of the `,` or `)` (with `line`: the newline, or what ends the
        statement before it: a comment, a `;`, a closing ``` fence) that ends a value at bracket
        `depth`, if any."""
        if line and not piece:  # the end of the text (an end-of-sequence token) ends the line
            return 0
        text = text_state
        for j, ch in enumerate(piece):
            text = _settled(text, ch)
            if line and ch == "\n" and depth == 0 and (text is None or text[0] == "#"):
                return j
            if line and ch in LINE_ENDS and depth == 0 and text is None:
                return j
            if text is None and depth == 0 and ch in _CLOSE:
                return j if ch == ")" and not line else None
            if text is None and depth == 0 and ch == "," and not line:
                return j
            depth, text = self._code_step(ch, depth, text)
        return None

    def _line_state(self, line: str) -> tuple[int, Any]:
        """(bracket depth, string state) at the end of `line`, read from its start as code."""
        depth, text = 0, None
        for ch in line:
            depth, text = self._code_step(ch, depth, _settled(text, ch))
            depth = max(0, depth)
        return depth, text

    def _code_step(self, ch: str, depth: int, text) -> tuple[int, Any]:
        """(bracket depth, string/comment state) after one character."""
        if text is not None:
            return depth, self._skip(State(text=text), ch).text
        if ch in "\"'":
            return depth, ("pend", ch, 1)
        if ch == "#":
            return depth, ("#",)
        return depth + (ch in _OPEN) - (ch in _CLOSE), None


def _settled(text, ch: str):
    """The string state before `ch`: a pending `""` followed by anything else was an empty string."""
    if text is not None and text[0] == "pend" and text[2] == 2 and ch != text[1]:
        return None
    return text


def probe_source(prefix: str) -> str:
    """The workflow so far (the code after the last ``` fence) with the probe name as the value
    being written and every open bracket closed."""
    fence = prefix.rfind("```")
    code = prefix[prefix.find("\n", fence) + 1:] if fence >= 0 else prefix
    stack: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code + PROBE).readline):
            if tok.type == tokenize.OP and tok.string in _PAIRS:
                stack.append(_PAIRS[tok.string])
            elif tok.type == tokenize.OP and stack and tok.string == stack[-1]:
                stack.pop()
    except (tokenize.TokenError, SyntaxError):
        pass  # the end of an unfinished statement
    return code + PROBE + "".join(reversed(stack)) + "\n"
