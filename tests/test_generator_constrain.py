"""Constrained decoding of operator calls: the automaton (pure) and the local backend."""
import re

import pytest

from flowforge.generator.constrain import OpsConstraint, OpSignature

C = OpsConstraint((
    OpSignature("compose", ("instruction", "input"), ("input",)),
    OpSignature("tally", ("items",), ("items",)),
))


def ok(text):
    return C.advance(C.initial, text) is not None


@pytest.mark.parametrize("text", [
    "r = await ops.compose(input=problem)",
    "r = await ops.compose(\n    instruction='a, b)',\n    input=f\"{x} ({y})\",\n)",
    "n = await ops.tally(items=[await ops.compose(input=p) for p in parts])",  # nested call
    'async def solve(problem, ops):\n    """Uses ops.nosuch(x) in a docstring."""\n    return 1',
    "x = 1  # ops.nosuch(",                       # comments are free
    "s = '' + \"it\\\"s\" + myops.foo + a.ops.bar",  # strings, other namespaces, attribute chains
    "r = await ops.comp",                          # a prefix is fine so far
    "r = await ops.compose(instr",
    "r = await ops.compose(input=a == b, instruction=a <= b != c)",  # comparisons
    "r = await ops.tally(items=sorted(xs, key=len))",                # keywords of other calls
    "xs = [(await ops.compose(input=p))['answer'] for p in {'a': [1]}]",  # brackets nest
    "r = await ops.compose(input=')]}', instruction=\"([{\")  # ]]",   # brackets in strings
    "x = 1\n\n\ny = 2",                                             # two empty lines
    "r = await ops.compose(\n    input=p,\n)",                       # one line break per gap
    "```python\nx = (1)\n```\n",
])
def test_allowed_text(text):
    assert ok(text)


@pytest.mark.parametrize("text", [
    "r = await ops.generate(",                  # not in the set
    "r = await ops.composer(",                  # extends a name
    "r = await ops.compose(problem=",            # no such argument
    "r = await ops.compose(instruction='x')",   # required `input` missing
    "r = await ops.compose(input=1, input=2)",  # repeated
    "r = await ops.compose(p)",                 # positional
    "r = await ops.tally(items=x, **kw)",
    "r = await ops.tally(items=x=x",             # a lone `=` in a value
    "r = await ops.tally(items=a===b",
    "r = await ops.tally(items=a====b",
    "r = await ops.tally(items=[p for p in ps})",  # a closer that does not match
    "r = await ops.tally(items=x])",              # nothing open to close
    "r = await ops.compose(input=p))",            # nor outside the call
    "x = (1]",
    "x = 1\n\n\n\ny = 2",                     # three empty lines
    "r = await ops.compose(input=p,\n\n",       # an empty line between arguments
])
def test_broken_text(text):
    assert not ok(text)


def test_state_is_canonical_and_banned_ids_follow_the_rules():
    assert C.advance(C.initial, "alpha = beta") == C.advance(C.initial, "x = y")  # names collapse
    state = C.advance(C.initial, "r = await ops.")
    assert C.banned(state, ["com", "gen", "t", "(", "tally(", "x", ""]) == [1, 3, 5, 6]  # "": no end at `ops.`
    inside = C.advance(C.initial, "ops.compose(instruction=q")
    assert C.banned(inside, [")", ", input=", ",", " + 1", ""]) == [0, 4]  # `)` before `input` is given


@pytest.mark.parametrize("text,may_end", [
    ("r = await ops.compose(input=p)\n", True),
    ("x = 1  # a comment", True),
    ("r = await ops.compose(input=p", False),
    ("r = await ops.tal", False),
    ("xs = [1, 2", False),
    ('s = """a docstring', False),
])
def test_text_ends_only_outside_calls_brackets_and_strings(text, may_end):
    """A token with no text (end of sequence) is banned until the text may stop."""
    state = C.advance(C.initial, text)
    assert C.may_end(state) is may_end
    assert (0 in C.banned(state, ["", "x"])) is not may_end


@pytest.mark.model
@pytest.mark.timeout(300)
async def test_local_backend_writes_only_allowed_calls():
    """The embedded model asked to copy a call the set lacks copies it when free, and writes only
    calls that follow the set with the constraint (greedy and sampled, in one batch)."""
    import asyncio

    from flowforge.llm.local import LocalLLM

    llm = LocalLLM("embedded")
    msg = [{"role": "user", "content": "Copy this line exactly:\nanswer = await ops.generate(input=problem)"}]
    free = (await llm.complete(msg, max_tokens=24)).texts[0]
    assert "ops.generate(input=" in free
    sampled, greedy = await asyncio.gather(llm.complete(msg, max_tokens=32, constraint=C, n=3, temperature=0.8, seed=1),
                                           llm.complete(msg, max_tokens=32, constraint=C))
    texts = sampled.texts + greedy.texts
    calls = [m for t in texts for m in re.findall(r"(?<![\w.])ops\.(\w+)\((\w*)", t)]
    assert calls, texts
    assert all(name in ("compose", "tally") for name, _ in calls), texts
    assert all(arg in ("", "instruction", "input", "items") for _, arg in calls), texts
