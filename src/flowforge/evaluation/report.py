"""`flowforge report DIR`: one static, self-contained HTML page (inline CSS/JS, plots as inline
base64 PNGs, no CDN) for a run dir, an eval dir, a search dir and/or a training run dir.

    flowforge report runs/demo            # writes runs/demo/report.html

What it shows, by what the dir holds:
- run dir (`summary.json`, `results.jsonl`, `traces.jsonl`, `workflow.py` from `flowforge run`):
  the workflow code and operator graph, the score table, a per-instance trace browser;
- eval dir (`eval.json` from `flowforge eval`): the methods x tasks table, score-vs-cost and
  per-task plots, and each cell's workflow;
- search dir (`history.jsonl` from `flowforge search`): score per round;
- training dir (a `*.jsonl` log whose lines carry `step`): training curves.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from flowforge.errors import UserError
from flowforge.store import read_records
from flowforge.workflow.graph import to_mermaid, workflow_graph

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}td.failed{color:#b00;text-align:left;font-size:.85em}
pre{background:#f7f7f7;padding:.7em;overflow-x:auto;font-size:.85em;border:1px solid #eee}
details{margin:.2em 0;border:1px solid #e4e4e4;padding:.3em .6em;border-radius:4px}
summary{cursor:pointer}.ok{color:#070}.bad{color:#b00}.call{margin-left:1em}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}.muted{color:#777;font-size:.85em}
#trace-filter{padding:4px;width:20em}#js-errors:empty{display:none}
"""

JS = """
window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message));
  var el=document.getElementById('js-errors');if(el){el.textContent=window.__errors.join('\\n');}});
document.addEventListener('DOMContentLoaded',function(){
  var f=document.getElementById('trace-filter');
  if(f){f.addEventListener('input',function(){var q=f.value.toLowerCase();
    document.querySelectorAll('details.instance').forEach(function(d){
      d.style.display=d.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});}
  var b=document.getElementById('expand-all');
  if(b){b.addEventListener('click',function(){document.querySelectorAll('details.instance')
    .forEach(function(d){d.open=!d.open;});});}
  document.body.setAttribute('data-report-ready','1');
});
"""

MAX_INSTANCES = 200  # trace browser entries per run
MAX_TEXT = 4000


def _e(x: Any) -> str:
    s = x if isinstance(x, str) else json.dumps(x, ensure_ascii=False, default=str)
    return html.escape(s if len(s) <= MAX_TEXT else s[:MAX_TEXT] + " …")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(header: list[str], rows: list[list[Any]], cls: str = "") -> str:
    out = [f'<table class="{cls}"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for c in row:
            text = c if isinstance(c, str) else ("—" if c is None or (isinstance(c, float) and math.isnan(c))
                                                 else f"{c:.3f}" if isinstance(c, float) else str(c))
            cells.append(f'<td class="failed">{_e(text)}</td>' if text.startswith("failed") else f"<td>{_e(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


# ---- workflow graph ------------------------------------------------------------------

def operator_sequence(source: str) -> list[tuple[str, int, bool]]:
    """(operator, line, repeated) for each `ops.x(...)` call site of the workflow graph, in line
    order; repeated = inside a loop or comprehension. Empty when the code does not parse."""
    try:
        nodes = workflow_graph(source).nodes.values()
    except (SyntaxError, ValueError):
        return []
    return sorted(((n.op, n.line, bool(n.repeat)) for n in nodes), key=lambda t: t[1])


def graph_svg(source: str) -> str:
    """The operator calls as a vertical chain: problem -> op -> ... -> answer (inline SVG)."""
    nodes = [("problem", "")] + [(op, f"line {ln}" + (", repeated" if rep else "")) for op, ln, rep
                                 in operator_sequence(source)] + [("answer", "")]
    w, h, gap = 260, 34, 22
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 20}" height="{len(nodes) * (h + gap)}" '
             'role="img" aria-label="operator graph">',
             '<defs><marker id="arr" markerWidth="8" markerHeight="8" refX="4" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for i, (name, note) in enumerate(nodes):
        y = i * (h + gap) + 4
        fill = "#eef5ff" if 0 < i < len(nodes) - 1 else "#f0f0f0"
        parts.append(f'<rect x="10" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#557"/>')
        parts.append(f'<text x="{10 + w / 2}" y="{y + 15}" text-anchor="middle" font-size="13" '
                     f'font-family="monospace">{html.escape(name)}</text>')
        if note:
            parts.append(f'<text x="{10 + w / 2}" y="{y + 28}" text-anchor="middle" font-size="10" '
                         f'fill="#666">{html.escape(note)}</text>')
        if i:
            parts.append(f'<line x1="{10 + w / 2}" y1="{y - gap}" x2="{10 + w / 2}" y2="{y - 3}" '
                         'stroke="#555" marker-end="url(#arr)"/>')
    return "\n".join(parts) + "</svg>"


def _mermaid(source: str) -> str:
    """Mermaid text of the operator graph; empty when the code does not parse."""
    try:
        return to_mermaid(source)
    except (SyntaxError, ValueError):  # an invalid workflow still gets its code shown
        return ""


def workflow_section(source: str, title: str = "Workflow") -> str:
    mer = _mermaid(source)
    return (f"<h2>{_e(title)}</h2><div style='display:flex;gap:2em;align-items:flex-start'>"
            f"<pre style='flex:1'>{_e(source)}</pre><div>{graph_svg(source)}</div></div>"
            + (f"<details><summary>operator graph (mermaid text)</summary><pre>{_e(mer)}</pre></details>"
               if mer else ""))


# ---- run dir -------------------------------------------------------------------------

def _calls_by_instance(traces: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """traces.jsonl lines are either one operator call each (with instance_id) or one instance
    each with a `calls` list; both become instance_id -> calls."""
    out: dict[str, list[dict[str, Any]]] = {}
    for t in traces:
        iid = str(t.get("instance_id", ""))
        if isinstance(t.get("calls"), list):
            out.setdefault(iid, []).extend(t["calls"])
        else:
            out.setdefault(iid, []).append(t)
    return out


def _call_html(c: dict[str, Any]) -> str:
    err = c.get("error")
    usage = c.get("usage") or {}
    cost = f"{usage.get('calls', 0)} calls" if isinstance(usage, dict) and usage else ""
    head = f"<b>{_e(c.get('operator', '?'))}</b> <span class='muted'>{_e(cost)}</span>" + (
        f" <span class='bad'>error: {_e(err)}</span>" if err else "")
    return (f"<details class='call'><summary>{head}</summary><div>inputs:<pre>"
            f"{_e(json.dumps(c.get('inputs', {}), indent=1, ensure_ascii=False, default=str))}</pre>"
            f"output:<pre>{_e(c.get('output', ''))}</pre></div></details>")


def _problems(run_dir: Path) -> dict[str, str]:
    """id -> problem text, from the task and split pinned in run.json (empty when unavailable)."""
    meta_path = run_dir / "run.json"
    if not meta_path.exists():
        return {}
    meta = json.loads(meta_path.read_text())
    try:
        from flowforge.tasks import get_task

        return {i.id: i.problem for i in get_task(meta["task"]).load(meta.get("split", "test"))}
    except (UserError, KeyError, OSError):
        return {}


def run_section(run_dir: Path, title: str = "Run") -> str:
    parts = []
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    wf = run_dir / "workflow.py"
    if wf.exists():
        parts.append(workflow_section(wf.read_text(), f"{title}: workflow"))
    results = read_records(run_dir / "results.jsonl")
    if summary or results:
        scores = [r.get("score") for r in results if isinstance(r.get("score"), (int, float))]
        rows = [[k, v if not isinstance(v, (dict, list)) else json.dumps(v)] for k, v in summary.items()]
        if not summary and scores:
            rows = [["score", sum(scores) / len(scores)], ["n", len(scores)]]
        parts.append(f"<h2>{_e(title)}: scores</h2>" + _table(["field", "value"], rows, "summary"))
        if scores:
            plt = _plt()
            fig, ax = plt.subplots(figsize=(5, 2.6))
            ax.hist([s for s in scores if not math.isnan(s)], bins=10, range=(0, 1), color="#4a7")
            ax.set_xlabel("instance score"), ax.set_ylabel("instances")
            parts.append(_png(fig))
    traces = read_records(run_dir / "traces.jsonl")
    if results:
        calls = _calls_by_instance(traces)
        parts.append(f"<h2>{_e(title)}: traces</h2><p><input id='trace-filter' placeholder='filter instances'> "
                     "<button id='expand-all' type='button'>expand / collapse all</button> "
                     f"<span class='muted'>{min(len(results), MAX_INSTANCES)} of {len(results)} instances</span></p>")
        problems = _problems(run_dir)
        for r in results[:MAX_INSTANCES]:
            iid = str(r.get("id", r.get("instance_id", "")))
            score = r.get("score")
            ok = isinstance(score, (int, float)) and score >= 1
            label = f"{score:.3f}" if isinstance(score, (int, float)) else str(score)
            problem = r.get("problem") or problems.get(iid, "")
            inner = [f"<div>input:<pre>{_e(problem)}</pre></div>" if problem else ""]
            inner += [_call_html(c) for c in calls.get(iid, [])]
            inner.append(f"<div>answer:<pre>{_e(r.get('answer', ''))}</pre></div>")
            if r.get("error"):
                inner.append(f"<div class='bad'>error: {_e(r['error'])}</div>")
            if r.get("explanation"):
                inner.append(f"<div class='muted'>scorer: {_e(r['explanation'])}</div>")
            parts.append(f"<details class='instance'><summary>{_e(iid)} — score "
                         f"<span class='{'ok' if ok else 'bad'}'>{_e(label)}</span> — "
                         f"{len(calls.get(iid, []))} operator calls</summary>{''.join(inner)}</details>")
    return "\n".join(parts)


# ---- eval dir ------------------------------------------------------------------------

COST_PLOT = "score_vs_cost.png"


def _finite(x: Any) -> float:
    return x if isinstance(x, (int, float)) and not math.isnan(x) else 0.0


def cost_figure(methods: list[dict[str, Any]]):
    """Mean test score per method against the tokens spent obtaining its workflows (search and
    best-of-N pay up front, fixed workflows nothing) and against execution tokens per instance."""
    pts = [m for m in methods if isinstance(m.get("mean_score"), (int, float)) and not math.isnan(m["mean_score"])]
    if not pts:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, label in ((axes[0], "obtain_tokens", "tokens to obtain the workflows (all tasks)"),
                           (axes[1], "exec_tokens_per_instance", "executor tokens per test instance")):
        for m in pts:
            x = _finite(m.get(key))
            ax.scatter(x, m["mean_score"], s=40)
            ax.annotate(m["method"], (x, m["mean_score"]), fontsize=8, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean test score")
    axes[0].set_title("score against obtain cost", fontsize=10)
    axes[1].set_title("score against execution cost", fontsize=10)
    fig.tight_layout()
    return fig


def read_eval(eval_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    """The cells (CellResult) and the whole eval.json of an eval dir."""
    from flowforge.evaluation.run import CellResult

    data = json.loads((eval_dir / "eval.json").read_text())
    cells = []
    for d in data.get("cells", []):
        d = {k: v for k, v in d.items() if k not in ("exec_calls_per_instance", "exec_tokens_per_instance")}
        cells.append(CellResult(**d))
    return cells, data


def eval_section(eval_dir: Path) -> str:
    from flowforge.evaluation.tables import wide_rows

    cells, data = read_eval(eval_dir)
    header, rows = wide_rows(cells)
    meta = data.get("meta", {})
    parts = [f"<h2>Evaluation: {_e(meta.get('suite') or meta.get('tasks') or '')}</h2>",
             f"<p class='muted'>executor {_e(meta.get('executor', '?'))}; limit {_e(meta.get('limit'))}; "
             "scores on TEST splits; obtain = cost of getting the workflow; exec = per test instance.</p>",
             _table(header, rows, "scores")]
    summ = data.get("methods", [])
    fig = cost_figure(summ)
    if fig is not None:
        fig.savefig(eval_dir / COST_PLOT, dpi=100)
        parts.append(_png(fig))
    plt = _plt()
    ok = [c for c in cells if c.status != "failed" and c.score is not None]
    if ok:
        tasks = list(dict.fromkeys(c.task + ("" if c.operators == "default" else f"@{c.operators}") for c in ok))
        methods = list(dict.fromkeys(c.method for c in ok))
        fig, ax = plt.subplots(figsize=(max(6, len(tasks) * 0.5 + 2), 3.8))
        width = 0.8 / len(methods)
        for j, m in enumerate(methods):
            by = {c.task + ("" if c.operators == "default" else f"@{c.operators}"): c.score for c in ok if c.method == m}
            ax.bar([i + j * width for i in range(len(tasks))], [by.get(t, 0) for t in tasks], width, label=m)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))])
        ax.set_xticklabels(tasks, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("test score"), ax.set_ylim(0, 1), ax.legend(fontsize=7)
        ax.set_title("per-task scores")
        parts.append(_png(fig))
    parts.append("<h2>Workflows per cell</h2>")
    for c in cells:
        body = ""
        if c.workflow and (eval_dir / c.workflow).exists():
            src = (eval_dir / c.workflow).read_text()
            body = f"<pre>{_e(src)}</pre>{graph_svg(src)}"
        parts.append(f"<details><summary>{_e(c.method)} × {_e(c.task)} — {_e(c.cell_text())} "
                     f"<span class='muted'>{_e(c.label)}</span></summary>{body}</details>")
    return "\n".join(parts)


# ---- search / training ---------------------------------------------------------------

def search_section(search_dir: Path) -> str:
    hist = read_records(search_dir / "history.jsonl")
    rows = [[h.get("round"), h.get("parent"), "valid" if h.get("valid") else f"invalid: {h.get('error', '')}",
             h.get("score"), (h.get("optimizer_usage") or {}).get("calls", 0),
             (h.get("executor_usage") or {}).get("calls", 0)] for h in hist]
    parts = ["<h2>Search history</h2>",
             _table(["round", "parent", "status", "score", "optimizer calls", "executor calls"], rows, "search")]
    pts = [(h["round"], h["score"]) for h in hist if isinstance(h.get("score"), (int, float))]
    if pts:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5, 2.8))
        ax.plot(*zip(*pts), "o-")
        best = [max(s for r, s in pts if r <= x) for x, _ in pts]
        ax.plot([p[0] for p in pts], best, "--", label="best so far")
        ax.set_xlabel("round"), ax.set_ylabel("search-split score"), ax.legend(fontsize=8)
        parts.append(_png(fig))
    best = search_dir / "best.py"
    if best.exists():
        parts.append(workflow_section(best.read_text(), "Search: best workflow"))
    return "\n".join(parts)


def training_logs(run_dir: Path) -> list[Path]:
    """JSONL files under run_dir whose first line is a dict with a `step` field."""
    found = []
    for p in sorted(run_dir.glob("*.jsonl")):
        try:
            first = json.loads(p.open().readline() or "null")
        except json.JSONDecodeError:
            continue
        if isinstance(first, dict) and "step" in first:
            found.append(p)
    return found


def training_section(log: Path) -> str:
    rows = read_records(log)
    keys = [k for k in dict.fromkeys(k for r in rows for k in r)
            if k != "step" and all(isinstance(r.get(k), (int, float)) or k not in r for r in rows)
            and any(isinstance(r.get(k), (int, float)) for r in rows)]
    if not keys:
        return ""
    plt = _plt()
    n = len(keys)
    cols = min(3, n)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4 * cols, 2.6 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax, k in zip(axes.flat, keys):
        pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), (int, float))]
        ax.plot(*zip(*pts), "-", lw=1.2)
        ax.set_title(k, fontsize=9), ax.set_xlabel("step", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return f"<h2>Training curves: {_e(log.name)}</h2>" + _png(fig)


# ---- page ----------------------------------------------------------------------------

def build_report(path: Path) -> str:
    """The HTML page for whatever `path` holds; UserError when it holds nothing reportable."""
    if not path.is_dir():
        raise UserError(f"{path} is not a directory")
    sections = []
    if (path / "eval.json").exists():
        sections.append(eval_section(path))
    if (path / "history.jsonl").exists():
        sections.append(search_section(path))
    if (path / "results.jsonl").exists() or (path / "summary.json").exists():
        sections.append(run_section(path))
    elif (path / "workflow.py").exists():
        sections.append(workflow_section((path / "workflow.py").read_text()))
    sections += [training_section(p) for p in training_logs(path) if p.name != "history.jsonl"]
    sections = [s for s in sections if s]
    if not sections:
        raise UserError(f"{path} holds no run (results.jsonl), eval (eval.json), search (history.jsonl) "
                        "or training log (*.jsonl with `step`)")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>flowforge report: {_e(path.name)}</title><style>{CSS}</style><script>{JS}</script></head>"
            f"<body><h1>flowforge report: {_e(str(path))}</h1><pre id='js-errors' class='bad'></pre>"
            + "\n".join(sections) + "</body></html>")


def write_report(path: Path, out: Path | None = None) -> Path:
    out = out or path / "report.html"
    out.write_text(build_report(path))
    return out
