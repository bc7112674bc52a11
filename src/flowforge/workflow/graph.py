"""Render a workflow as an operator graph (mermaid or dot) for reports.

Nodes are the `ops.<name>(...)` call sites (labelled ×N inside `range(N)` loops and
comprehensions, "loop" inside other loops); edges follow data flow through variables from
`problem` to the returned answer. Operators with no data input get a dotted edge from `problem`
(the runtime binds the problem into every operator).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from flowforge.workflow.validate import is_ops_call


@dataclass(frozen=True)
class Node:
    """One `ops.<op>(...)` call site; repeat is "×N" (in a `range(N)` loop or comprehension),
    "loop" (inside another loop) or "" (runs once)."""

    op: str
    line: int
    repeat: str = ""

    @property
    def label(self) -> str:
        return f"{self.op}{' ' + self.repeat if self.repeat else ''} (line {self.line})"


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)  # id -> call site
    edges: list[tuple[str, str, bool]] = field(default_factory=list)  # (src, dst, dotted)

    def edge(self, a: str, b: str, dotted: bool = False) -> None:
        if (a, b, dotted) not in self.edges:
            self.edges.append((a, b, dotted))

    def mermaid(self) -> str:
        out = ["flowchart TD", "  problem([problem])"]
        out += [f'  {i}["{n.label}"]' for i, n in self.nodes.items()]
        out.append("  answer([answer])")
        out += [f"  {a} {'-.->' if d else '-->'} {b}" for a, b, d in self.edges]
        return "\n".join(out)

    def dot(self) -> str:
        out = ["digraph workflow {", "  rankdir=TB;", '  problem [shape=oval];', '  answer [shape=oval];']
        out += [f'  {i} [shape=box, label="{n.label}"];' for i, n in self.nodes.items()]
        out += [f"  {a} -> {b}{' [style=dotted]' if d else ''};" for a, b, d in self.edges]
        return "\n".join(out + ["}"])


def _repeat(it: ast.AST) -> str:
    if (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
            and len(it.args) == 1 and isinstance(it.args[0], ast.Constant)):
        return f"×{it.args[0].value}"
    return "loop"


class _Builder:
    def __init__(self):
        self.g = Graph()
        self.env: dict[str, set[str]] = {"problem": {"problem"}}
        self.mult: list[str] = []

    def deps(self, e: ast.AST | None) -> set[str]:
        if e is None:
            return set()
        if is_ops_call(e):
            inputs = set().union(*(self.deps(a) for a in e.args), *(self.deps(k.value) for k in e.keywords))
            nid = f"n{len(self.g.nodes) + 1}"
            self.g.nodes[nid] = Node(e.func.attr, e.lineno, self.mult[-1] if self.mult else "")
            for src in inputs:
                self.g.edge(src, nid)
            if not inputs:
                self.g.edge("problem", nid, dotted=True)
            return {nid}
        if isinstance(e, ast.Name):
            return set(self.env.get(e.id, set()))
        if isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            out = set()
            for gen in e.generators:
                src = self.deps(gen.iter)
                self.bind(gen.target, src)
                out |= src | set().union(*(self.deps(c) for c in gen.ifs))
            self.mult.append(_repeat(e.generators[0].iter))
            parts = [e.key, e.value] if isinstance(e, ast.DictComp) else [e.elt]
            out |= set().union(*(self.deps(p) for p in parts))
            self.mult.pop()
            return out
        return set().union(set(), *(self.deps(c) for c in ast.iter_child_nodes(e)))

    def bind(self, target: ast.AST, src: set[str], add: bool = False) -> None:
        for n in ast.walk(target):
            if isinstance(n, ast.Name):
                self.env[n.id] = (self.env.get(n.id, set()) | src) if add else set(src)

    def stmts(self, body: list[ast.stmt]) -> None:
        for s in body:
            if isinstance(s, ast.Assign):  # inside a loop the old value may survive: merge
                d = self.deps(s.value)
                for t in s.targets:
                    self.bind(t, d, add=bool(self.mult))
            elif isinstance(s, ast.AugAssign):
                self.bind(s.target, self.deps(s.value), add=True)
            elif isinstance(s, ast.Return):
                for src in self.deps(s.value):
                    self.g.edge(src, "answer")
            elif isinstance(s, (ast.For, ast.While)):
                if isinstance(s, ast.For):
                    self.bind(s.target, self.deps(s.iter))
                else:
                    self.deps(s.test)
                self.mult.append(_repeat(s.iter) if isinstance(s, ast.For) else "loop")
                self.stmts(s.body)
                self.mult.pop()
                self.stmts(s.orelse)
            elif isinstance(s, ast.If):
                self.deps(s.test)
                self.stmts(s.body)
                self.stmts(s.orelse)
            elif isinstance(s, ast.Try):
                self.stmts(s.body)
                for h in s.handlers:
                    self.stmts(h.body)
                self.stmts(s.orelse)
                self.stmts(s.finalbody)
            elif isinstance(s, ast.Expr):
                self.deps(s.value)


def workflow_graph(source: str) -> Graph:
    """The operator graph of a (parseable) workflow's `solve`."""
    tree = ast.parse(source)
    solve = next((n for n in tree.body if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef))
                  and n.name == "solve"), None)
    b = _Builder()
    if solve is not None:
        b.stmts(solve.body)
    return b.g


def to_mermaid(source: str) -> str:
    return workflow_graph(source).mermaid()


def to_dot(source: str) -> str:
    return workflow_graph(source).dot()
