"""The layers named in ARCHITECTURE.md point one way: every import inside src/flowforge (module
level, inside functions and under TYPE_CHECKING alike) goes to the importer's own layer or one
below it, and no two top-level units import each other."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "flowforge"


def layers() -> dict[str, int]:
    """unit -> layer index, read from the `layers` block of ARCHITECTURE.md (bottom first)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = re.search(r"<!-- layers -->\n```\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md has no <!-- layers --> block"
    out = {}
    for i, line in enumerate(line for line in block.group(1).splitlines() if line.strip()):
        _, _, units = line.partition(":")
        for unit in units.split():
            out[unit] = i
    return out


def unit_of(module: str) -> str:
    """`flowforge.llm.local` -> `llm`; `flowforge.cli` -> `cli`; `flowforge` -> `flowforge`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(pkg: Path = PKG) -> list[tuple[str, str, str, int]]:
    """(importer unit, imported unit, file, line) for every flowforge import between units."""
    out = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg.parent)
        if "reference" in rel.parts[:-1]:  # reference workflows are sources read as text
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
                if node.module == "flowforge":  # `from flowforge import errors`
                    targets = [f"flowforge.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t.split(".")[0] == "flowforge" and unit_of(t) != unit_of(module):
                    out.append((unit_of(module), unit_of(t), str(rel), node.lineno))
    return out


def upward(found: list[tuple[str, str, str, int]], known: dict[str, int]) -> list[str]:
    return [f"{f}:{line}: {a} (layer {known[a]}) imports {b} (layer {known[b]})"
            for a, b, f, line in found if a in known and b in known and known[b] > known[a]]


def mutual(found: list[tuple[str, str, str, int]]) -> list[tuple[str, str]]:
    edges = {(a, b) for a, b, _, _ in found}
    return sorted((a, b) for a, b in edges if (b, a) in edges and a < b)


@pytest.fixture(scope="module")
def found() -> list[tuple[str, str, str, int]]:
    """The package's imports, parsed once for the tests below."""
    return imports()


def test_every_unit_has_a_layer(found):
    units = {a for a, _, _, _ in found} | {p.stem for p in PKG.glob("*.py")} - {"__init__"}
    units |= {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    assert units - set(layers()) == set(), "add these to the layers block of ARCHITECTURE.md"


def test_imports_point_down_the_layers(found):
    assert upward(found, layers()) == []


def test_no_two_units_import_each_other(found):
    assert mutual(found) == []


def test_the_checker_catches_an_upward_import_and_a_cycle(tmp_path):
    pkg = tmp_path / "flowforge"
    for rel, text in {"llm/x.py": "from flowforge.operators import OperatorSet\n",
                      "search/a.py": "def f():\n    from flowforge.evaluation.methods import obtain\n",
                      "evaluation/b.py": "import flowforge.search.a\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = imports(pkg)
    assert upward(found, layers()) == [
        f"flowforge/llm/x.py:1: llm (layer {layers()['llm']}) imports operators (layer {layers()['operators']})",
        f"flowforge/search/a.py:2: search (layer {layers()['search']}) imports evaluation (layer {layers()['evaluation']})"]
    assert mutual(found) == [("evaluation", "search")]
