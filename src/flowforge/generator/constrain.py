"""Constrained decoding of operator calls: `ops.NAME(key=value, ...)` with NAME from the operator
set and keys from NAME's signature, every required key given before the `)`, no lone `=`
in a value (`key=a=b`), every closing bracket matching the innermost open one (outside strings
and comments), no runs of empty lines (none between a call's arguments, two at most
elsewhere), and no end of text inside a call, a bracket or a string.

A small generator often writes the operator names and argument names it was trained on instead of
the ones in the prompt, and such a workflow is invalid. With an `OpsConstraint` (an
`llm.constrain.Constraint`), a token-masking backend
masks at each step every token that would break those rules; among the tokens left, the model
chooses by its own probabilities. Beyond brackets and empty lines, statements, expressions,
strings and comments are free.

The rules are a character automaton (`advance`). Its state (`State`) is small and hashable: the
stack of open operator calls, the open brackets, and a canonical summary of the current
identifier and string. Variable names
collapse to one class, so the states a generation can reach are few, and the banned-token list of
each state is computed once (over every vocabulary entry's text) and cached by the backend.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, NamedTuple

if TYPE_CHECKING:
    from flowforge.operators import OperatorSet

_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = frozenset(" \t\r\n")
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
_MATCH = {")": "(", "]": "[", "}": "{"}
RULES = 5  # the automaton's version in cache keys (3: no lone `=`; 4: brackets match, blank lines; 5: no end mid-call)
MAX_NEWLINES = 3  # in a row outside a call: at most two empty lines
MAX_NEWLINES_IN_CALL = 1  # between a call's arguments: a line break, never an empty line


@dataclass(frozen=True)
class OpSignature:
    name: str
    params: tuple[str, ...]
    required: tuple[str, ...]


class _Call(NamedTuple):
    """An open `ops.NAME(` call: keys given so far, where we are in the current argument
    ("key": typing its name, "eq": name done and `=` next, "val": in its value), the key typed so
    far, and the brackets open inside the value (innermost last)."""

    op: str
    used: frozenset
    phase: str = "key"
    key: str = ""
    open: str = ""

    @property
    def depth(self) -> int:
        return len(self.open)


class State(NamedTuple):
    """Where the automaton is.

    frames: the open operator calls (`_Call`), innermost last;
    word:   "" outside an identifier, "o"/"op"/"ops" for a prefix of the namespace at a word
            boundary, "w" for any other identifier, or ("op", partial) for `ops.<partial>`;
            in an argument value, "=" after a `=` that must be `==`, "==" after `==` and "cmp"
            after `<`, `>`, `!`;
    dot:    the previous character was `.` (so an identifier there is an attribute);
    text:   None in code, or the string/comment being skipped: ("#",), ("pend", q, n) for n
            quote chars seen at a string start, ("str", q, triple, closing quotes seen, escaped);
    top:    the brackets open outside operator calls, innermost last;
    blank:  newlines since the last character that is not whitespace (strings aside)."""

    frames: tuple = ()
    word: object = ""
    dot: bool = False
    text: object = None
    top: str = ""
    blank: int = 0


@dataclass(frozen=True)
class OpsConstraint:
    """Operator-call rules for one operator set (`prefix` is the namespace the workflow calls)."""

    ops: tuple[OpSignature, ...]
    prefix: str = "ops"

    @classmethod
    def for_opset(cls, opset: "OperatorSet") -> "OpsConstraint":
        return cls(tuple(OpSignature(op.name, tuple(p.name for p in op.params),
                                     tuple(p.name for p in op.params if p.required)) for op in opset.operators))

    def key(self) -> list:
        """JSON-able identity (cache keys); `RULES` changes when the automaton's rules do."""
        return [self.prefix, sorted([o.name, list(o.params), list(o.required)] for o in self.ops), RULES]

    @cached_property
    def _by_name(self) -> dict[str, OpSignature]:
        return {o.name: o for o in self.ops}

    @cached_property
    def _name_prefixes(self) -> frozenset[str]:
        return frozenset(o.name[:i] for o in self.ops for i in range(len(o.name) + 1))

    initial: ClassVar[State] = State()

    # -- the automaton ----------------------------------------------------------------------
    def advance(self, state: State | None, text: str) -> State | None:
        """The state after `text`, or None if `text` breaks an operator-call rule."""
        for ch in text:
            if state is None:
                return None
            state = self._step(state, ch)
        return state

    def _step(self, state: State, ch: str) -> State | None:
        if state.text is not None:
            return self._skip(state, ch)
        if ch in _SPACE:
            blank = state.blank + (ch == "\n")
            if blank > (MAX_NEWLINES_IN_CALL if state.frames else MAX_NEWLINES):
                return None
            state = state._replace(blank=blank)
        else:
            state = state._replace(blank=0)
        frames, word = state.frames, state.word
        if frames and frames[-1].phase != "val":
            return self._keyword(state, ch)
        # code: top level, or the value of an operator call's argument
        if isinstance(word, tuple):  # `ops.<partial>`
            if ch in _IDENT:
                partial = word[1] + ch
                return state._replace(word=("op", partial), dot=False) if partial in self._name_prefixes else None
            if word[1] not in self._by_name:
                return None
            if ch == "(":  # the call opens: its keyword arguments come next
                return state._replace(frames=frames + (_Call(word[1], frozenset()),), word="", dot=False)
            word = ""
        if frames and frames[-1].depth == 0:  # an argument value: a lone `=` is a syntax error
            if word == "=":
                return state._replace(word="==", dot=False) if ch == "=" else None
            if ch == "=":
                return None if word == "==" else state._replace(word="" if word == "cmp" else "=", dot=False)
            if ch in "<>!":
                return state._replace(word="cmp", dot=False)
            if word in ("cmp", "=="):
                word = ""
        if ch in _IDENT:
            if word == "":
                word = ch if not state.dot and self.prefix.startswith(ch) else "w"
            elif word != "w":
                word = word + ch if self.prefix.startswith(word + ch) else "w"
            return state._replace(word=word, dot=False)
        if ch == "." and word == self.prefix:
            return state._replace(word=("op", ""), dot=False)
        state = state._replace(word="", dot=ch == ".")
        if ch in "\"'":
            return state._replace(text=("pend", ch, 1))
        if ch == "#":
            return state._replace(text=("#",))
        if not frames:  # brackets outside operator calls (a ``` fence ends any prose before the code)
            if ch == "`":
                return state._replace(top="")
            if ch in _OPEN:
                return state._replace(top=state.top + ch)
            if ch in _CLOSE:
                return state._replace(top=state.top[:-1]) if state.top.endswith(_MATCH[ch]) else None
            return state
        call = frames[-1]  # brackets and commas of the innermost call's argument value
        if ch in _OPEN:
            return state._replace(frames=frames[:-1] + (call._replace(open=call.open + ch),))
        if ch in _CLOSE and call.depth > 0:
            if not call.open.endswith(_MATCH[ch]):
                return None
            return state._replace(frames=frames[:-1] + (call._replace(open=call.open[:-1]),))
        if ch == ")":
            return self._close(state)
        if ch in _CLOSE:  # `]` or `}` with nothing open in the value
            return None
        if ch == "," and call.depth == 0:
            return state._replace(frames=frames[:-1] + (_Call(call.op, call.used),))
        return state

    def _keyword(self, state: State, ch: str) -> State | None:
        """Inside `ops.NAME(`, between arguments: only `key=` with an unused key of NAME, or `)`."""
        frames = state.frames
        call = frames[-1]
        free = [p for p in self._by_name[call.op].params if p not in call.used]
        if ch in _SPACE:
            if call.phase == "key" and call.key:
                if call.key not in free:
                    return None
                call = call._replace(phase="eq")
        elif call.phase == "key" and ch in _IDENT:
            call = call._replace(key=call.key + ch)
            if not any(p.startswith(call.key) for p in free):
                return None
        elif ch == "=" and call.key in free:
            call = _Call(call.op, call.used | {call.key}, "val")
        elif ch == ")" and call.phase == "key" and not call.key:
            return self._close(state)
        else:
            return None
        return state._replace(frames=frames[:-1] + (call,), word="", dot=False)

    def _close(self, state: State) -> State | None:
        """`)` ends the innermost call: allowed once every required key is given."""
        call = state.frames[-1]
        if not set(self._by_name[call.op].required) <= call.used:
            return None
        return state._replace(frames=state.frames[:-1], word="", dot=False)

    def _skip(self, state: State, ch: str) -> State | None:
        """Inside a comment or string literal: nothing is constrained until it ends."""
        text = state.text
        kind = text[0]
        if kind == "#":
            return state._replace(text=None, blank=1) if ch == "\n" else state
        if kind == "pend":  # 1 or 2 quotes seen: which kind of string is this?
            q, n = text[1], text[2]
            if ch == q:
                return state._replace(text=("str", q, True, 0, False) if n == 2 else ("pend", q, 2))
            if n == 2:  # "" was an empty string: back in code
                return self._step(state._replace(text=None), ch)
            return self._skip(state._replace(text=("str", q, False, 0, False)), ch)
        _, q, triple, closing, escaped = text
        if escaped:
            return state._replace(text=("str", q, triple, 0, False))
        if ch == "\\":
            return state._replace(text=("str", q, triple, 0, True))
        if ch == q:
            if not triple or closing == 2:
                return state._replace(text=None)
            return state._replace(text=("str", q, True, closing + 1, False))
        if ch == "\n" and not triple:  # an unterminated one-line string: let the validator say so
            return state._replace(text=None, blank=1)
        return state._replace(text=("str", q, triple, 0, False))

    @staticmethod
    def may_end(state: State) -> bool:
        """Whether the text may stop here: no operator call, `ops.<name>`, bracket or string open."""
        return not state.frames and not isinstance(state.word, tuple) and not state.top and state.text in (None, ("#",))

    def banned(self, state: State, pieces: list[str]) -> list[int]:
        """Ids of the tokens (pieces[i] is token i's text) that break a rule after `state`. A token
        with no text (end of sequence and other special tokens) would end the text: banned until
        `may_end`."""
        end = self.may_end(state)
        return [i for i, p in enumerate(pieces) if (not p and not end) or self.advance(state, p) is None]
