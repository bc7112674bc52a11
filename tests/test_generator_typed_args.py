"""Type-aware constrained decoding (generator/typed_args.py) with the real validator's types, and
its plumbing in the transformers engine's logits processor (a fake engine, no model)."""
import pytest
import torch

from flowforge.generator.typed_args import TypedOpsConstraint, probe_source
from flowforge.operators import load_operator_set
from flowforge.workflow.reference import reference_names, reference_path
from flowforge.workflow.validate import types_at, value_errors, workflow_errors

NOVEL = TypedOpsConstraint.for_opset(load_operator_set("novel"))
HEAD = '```python\nasync def solve(problem, ops):\n    """Doc."""\n'
CLOSERS = [")", ",", ")\n", " )", "[0])", ".split())", "[0],", "x"]


def banned_after(c, text, pieces=CLOSERS):
    state = c.advance(c.initial, text)
    assert state is not None, text
    return sorted(pieces[i] for i in c.row_banned(state, text, pieces))


@pytest.mark.parametrize("body, banned", [
    # a range is typed as a list but is not JSON data an operator can take
    ("    r = await ops.pick_consistent(solutions=range(len(problem))", [" )", ")", ")\n", ",", ".split())", "[0])", "[0],"]),
    # a str where a list is wanted: closing it is banned, `.split()` makes it a list
    ("    r = await ops.pick_consistent(solutions=problem", [" )", ")", ")\n", ",", "[0])", "[0],"]),
    # a list[str] where a str is wanted: its item is fine, the list or `.split()` (no such method) is not
    ("    xs = await ops.collect(text=problem, kind='n')\n    return await ops.pull(text=xs",
     [" )", ")", ")\n", ",", ".split())"]),
    # list[dict] items are dicts, not str
    ("    t = await ops.read_table(text=problem)\n    r = await ops.collect(text=t",
     [" )", ")", ")\n", ",", ".split())", "[0])", "[0],"]),
    # a string key into a str always fails, whatever the parameter
    ('    r = await ops.ask(instruction="a", input=problem["answer"]',
     [" )", ")", ")\n", ",", ".split())", "[0])", "[0],"]),
    # a list: closing it is fine, its item is a str
    ("    r = await ops.pick_consistent(solutions=problem.split()", [".split())", "[0])", "[0],"]),
    # inside a loop, names assigned in the body before the value are typed
    ("    for _ in range(2):\n        xs = await ops.collect(text=problem, kind='n')\n"
     "        r = await ops.pull(text=xs", [" )", ")", ")\n", ",", ".split())"]),
    # nested call: the innermost value is checked against the innermost parameter
    ("    r = await ops.pick_consistent(solutions=[await ops.ask(instruction='a', input=problem",
     [".split())"]),
])
def test_a_value_of_the_wrong_type_cannot_be_closed(body, banned):
    assert banned_after(NOVEL, HEAD + body) == banned


@pytest.mark.parametrize("body", [
    "    r = await ops.pick_consistent(solutions=[problem",          # still inside the list
    '    r = await ops.pull(text="abc',                               # inside a string
    "    r = await ops.pull(kind='x', text=undefined_name",          # unknown: any
    # in a loop body, a later statement may rebind any name (as the validator sees the whole body)
    "    for x in range(2):\n        y = await ops.pick_consistent(solutions=problem",
])
def test_what_cannot_be_typed_or_is_right_is_not_banned(body):
    assert banned_after(NOVEL, HEAD + body) == []


@pytest.mark.parametrize("name", reference_names())
def test_writing_a_workflow_the_validator_accepts_is_never_banned(name):
    """Char by char through each reference workflow (valid by the validator): the next char is
    never among the tokens the type check bans."""
    opset = load_operator_set("default")
    source = reference_path(name).read_text()
    assert workflow_errors(source, opset) == []
    c = TypedOpsConstraint.for_opset(opset)
    text = "```python\n" + source
    pieces = sorted(set(text))
    state = c.advance(c.initial, "```python\n")
    for i in range(len("```python\n"), len(text)):
        assert pieces.index(text[i]) not in c.row_banned(state, text[:i], pieces), (name, text[:i + 1][-80:])
        state = c.advance(state, text[i])


def test_names_are_typed_where_the_value_starts():
    opset = load_operator_set("novel")
    src = probe_source(HEAD + "    xs = await ops.collect(text=problem, kind='n')\n    ys = [await ops.pull(text=")
    assert src.endswith("text=flowforge_value_probe)]\n")
    env = types_at(src, opset, "flowforge_value_probe")
    assert str(env["problem"]) == "str" and str(env["xs"]) == "list[str]"
    assert types_at("async def solve(problem, ops):\n    return (", opset, "p") is None  # does not parse
    assert value_errors("xs[0]", env, opset, "pull", "text") == [] and value_errors("xs[0]", env, opset) == []
    assert "must be a str" in value_errors("xs", env, opset, "pull", "text")[0]
    assert "answer must be a string" in value_errors("xs", env, opset)[0]  # as solve's return value
    assert value_errors("xs[0", env, opset) is None
    assert value_errors('problem["a"]', env, opset, "pull", "text")  # a str key into a str
    assert "not data" in value_errors("range(3)", env, opset, "pick_consistent", "solutions")[0]


def test_argument_types_are_part_of_the_identity():
    novel, default = load_operator_set("novel"), load_operator_set("default")
    assert NOVEL.key() != TypedOpsConstraint.for_opset(default).key()
    assert TypedOpsConstraint.for_opset(novel) == NOVEL and hash(TypedOpsConstraint.for_opset(novel)) == hash(NOVEL)


class FakeEngine:
    """Stands in for llm.local.Engine: a tiny vocabulary, no model; `banned` stands for the
    automaton's cached mask."""

    def __init__(self, pieces, banned=()):
        self.token_texts, self.banned = pieces, banned

    def banned_tokens(self, constraint, state):
        if not self.banned:
            return None
        mask = torch.zeros(len(self.token_texts), dtype=torch.bool)
        mask[list(self.banned)] = True
        return mask


def test_engine_masks_the_tokens_the_row_check_bans():
    from flowforge.llm.local import RowConstrain

    pieces = [HEAD + "    r = await ops.pick_consistent(solutions=", "problem", ")", ".split())", "[", "x"]
    proc = RowConstrain(0, [NOVEL, None], FakeEngine(pieces))
    ids = torch.tensor([[0, 1], [0, 1]])  # row 0 constrained, row 1 not
    scores = proc(ids, torch.zeros(2, len(pieces)))
    assert torch.isinf(scores[0]).tolist() == [False, False, True, False, False, False]
    assert not torch.isinf(scores[1]).any()
    # a row check that would leave no token is not applied (the automaton's mask still is)
    only_close = RowConstrain(0, [NOVEL], FakeEngine(pieces[:3], banned=[0, 1]))
    assert torch.isinf(only_close(torch.tensor([[0, 1]]), torch.zeros(1, 3))).tolist() == [[True, True, False]]


def test_a_str_cannot_start_a_value_where_a_list_is_wanted():
    """Where a list is wanted, the whole name of a str cannot be written (in one token or
    several); other names, brackets and longer names can. A list where a str is wanted can
    start the value (`xs[0]`)."""
    pieces = ["problem", " problem", "problem.", "prob", "lem", "lems", "[", "xs", "problems"]
    head = HEAD + "    xs = await ops.collect(text=problem, kind='n')\n"
    assert banned_after(NOVEL, head + "    r = await ops.pick_consistent(solutions=", pieces) == [
        " problem", "problem", "problem."]
    assert banned_after(NOVEL, head + "    r = await ops.pick_consistent(solutions=prob", pieces) == ["lem"]
    assert banned_after(NOVEL, head + "    r = await ops.pull(kind='a', text=", pieces) == []


@pytest.mark.parametrize("body, banned", [
    ("    return xs", ["", "\n", "\n```", "```", " #", ";"]),  # a list is not an answer (nor is the end of the text,
    # a comment, a `;` or the closing fence, which would end the code); `xsx` is unknown
    ("    return xs[0]", []),
    ('    return "#;`" + xs[0]', []),                     # inside a string they end nothing
    ("    return await ops.read_table(text=problem)", ["", "\n", "\n```", "[0]\n", "```", " #", ";"]),  # list[dict], dict
    ("    return (xs", []),                                 # not at the end of the line yet
    ("    for _ in range(2):\n        return xs", []),      # in a loop: any
    ('    """return xs', ["", "\n```", "```"]),             # not a return statement (so the text cannot end yet)
])
def test_a_return_line_cannot_end_with_a_list_or_dict(body, banned):
    head = HEAD + "    xs = await ops.collect(text=problem, kind='n')\n"
    assert banned_after(NOVEL, head + body, ["", "\n", "\n```", "[0]\n", "x\n", "x", "```", " #", ";"]) == sorted(banned)



@pytest.mark.parametrize("text, banned", [
    ("", []),                                                        # the opening fence is fine
    ("```python\n", []),                                            # before `solve` begins
    (HEAD, ["", "\n```", "```", "```python\n"]),                                   # a docstring alone is no workflow
    (HEAD[:-4] + '\n    return x\n    """\n', ["", "\n```", "```", "```python\n"]),  # `return` inside a docstring is not one
    (HEAD + "    x = await ops.ask(instruction='a', input=problem)\n", ["", "\n```", "```", "```python\n"]),
    (HEAD + "    return problem\n", []),                            # a return line: the text may end
    (HEAD + "    if problem:\n        return problem\n", []),
])
def test_the_text_cannot_end_before_solve_returns(text, banned):
    assert banned_after(NOVEL, text, ["", "\n```", "```", "\n", "x", "```python\n"]) == sorted(banned)


@pytest.mark.parametrize("body, banned", [
    # a mode argument's literal can only spell one of the values its signature lists
    ("    xs = await ops.collect(text=problem, kind='", ["'", "expr", "mb", "mber'", 'mber"', "x"]),
    ("    xs = await ops.collect(text=problem, kind='nu", ["'", "nu", 'mber"', "number'", "expr", "x"]),
    ('    xs = await ops.collect(text=problem, kind="nu', ["'", "nu", "mber'", "number'", "expr", "x"]),
    # novel set: the values survive the renaming; another parameter is free
    ("    r = await ops.pull(text='nu", []),
])
def test_a_listed_value_is_spelled_while_its_literal_is_open(body, banned):
    pieces = ["'", "nu", "mb", "mber'", 'mber"', "number'", "expr", "x", ""]
    got = banned_after(NOVEL, HEAD + body, pieces)
    assert [p for p in got if p] == sorted(banned)
    assert ("" in got) == ("kind=" in body)  # nor can the text end inside the literal
