"""flowforge command line: `flowforge COMMAND --help` (or `python -m flowforge`). Every command
imports its heavy parts lazily so `--help` stays fast.

Exit codes: 0 ok, 1 a run finished with failures, 2 bad input or config.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from flowforge.config_cli import config_command
from flowforge.errors import UserError
from flowforge.generator.generate import ATTEMPTS
from flowforge.training.config import RLRunConfig, SFTRunConfig, SynthConfig

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
train_app = typer.Typer(no_args_is_help=True, help="Stage 1 (synth, sft) and stage 2 (rl) training.")
app.add_typer(train_app, name="train")
console = Console()

# ---- tasks (foundation) ----------------------------------------------------------------


@app.command("tasks")
def tasks_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the task list as JSON."),
    show: Optional[str] = typer.Option(None, "--show", help="Show one task (name or spec.yaml): description and a sample."),
) -> None:
    """List the available tasks: domain, held-out status, split sizes and scorer."""
    import json

    from rich.table import Table

    from flowforge.tasks import get_task, list_tasks

    if show:
        t = get_task(show)
        inst = t.load(t.train_splits[0] if t.train_splits else next(iter(t.splits)), limit=1)[0]
        console.print(f"{t.name} ({t.domain}, scorer {t.scorer}, source {t.source})\n{t.description}\n"
                      f"answer format: {t.answer_format}\n\nsample {inst.id}:\n{inst.problem[:1500]}",
                      highlight=False, markup=False)
        return
    tasks = list_tasks()
    if as_json:
        rows = [{"name": t.name, "domain": t.domain, "heldout": t.heldout, "splits": t.splits,
                 "train_splits": t.train_splits, "scorer": t.scorer, "procedural": t.procedural,
                 "answer_format": t.answer_format, "description": t.description} for t in tasks]
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="flowforge tasks", title_justify="left")
    for col in ("name", "domain", "held-out", "splits (train splits *)", "scorer"):
        table.add_column(col)
    for t in tasks:
        splits = "  ".join(f"{s}{'*' if s in t.train_splits else ''} {n:,}" + ("~" if t.procedural else "")
                           for s, n in t.splits.items())
        table.add_row(t.name, t.domain, "yes" if t.heldout else "", splits, t.scorer)
    console.print(table)
    console.print("[dim]* may be trained on; ~ procedural (nominal size). Held-out tasks are zero-shot only.[/dim]")


# ---- llm (foundation: serve) -----------------------------------------------------------


@app.command()
def serve(
    model: str = typer.Option("embedded", "--model", "-m", help="Model spec to serve (see `load_llm`)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8011, help="TCP port."),
    cache: bool = typer.Option(False, help="Also use the persistent response cache server-side."),
) -> None:
    """Serve a model over an OpenAI-compatible API (/v1/chat/completions, /v1/models)."""
    from flowforge.llm import load_llm
    from flowforge.llm.serve import serve as run_server

    from flowforge.llm.local import LocalLLM

    llm = load_llm(model, cache=cache)
    if isinstance(llm, LocalLLM):
        llm.load()  # load the weights now, not on the first request
    console.print(f"serving {llm.name} at http://{host}:{port}/v1", highlight=False)
    run_server(llm, host, port)


@app.command()
def complete(
    prompt: str = typer.Argument(..., help="User message."),
    model: str = typer.Option("embedded", "--model", "-m", help="Model spec."),
    n: int = typer.Option(1, help="Number of completions."),
    temperature: float = typer.Option(0.0, help="Sampling temperature (0 = greedy)."),
    max_tokens: int = typer.Option(128, help="Max new tokens per completion."),
    seed: Optional[int] = typer.Option(None, help="Sampling seed."),
    cache: bool = typer.Option(True, help="Use the persistent response cache."),
) -> None:
    """One chat completion from a model spec (a quick check that a backend works)."""
    import asyncio

    from flowforge.llm import load_llm

    llm = load_llm(model, cache=cache)
    c = asyncio.run(llm.complete([{"role": "user", "content": prompt}], n=n, temperature=temperature,
                                 max_tokens=max_tokens, seed=seed))
    for text in c.texts:
        console.print(text, highlight=False, markup=False)
    u = c.usage
    Console(stderr=True).print(
        f"[dim]{u.prompt_tokens} prompt + {u.completion_tokens} completion tokens, {u.seconds:.2f}s"
        f"{' (cached)' if u.cached_calls else ''}[/dim]", highlight=False)

# ---- operators / run (runtime) ---------------------------------------------------------


@app.command("operators")
def operators_cmd(
    set_name: Optional[str] = typer.Argument(None, metavar="[SET]", help="A bundled set name or a YAML file; omit to list sets."),
) -> None:
    """List operator sets, or the operators of one set (what the generator reads)."""
    from rich.table import Table

    from flowforge.operators import available_sets, load_operator_set

    if set_name is None:
        table = Table("set", "operators", title="operator sets")
        for name in available_sets():
            table.add_row(name, ", ".join(load_operator_set(name).names))
        console.print(table)
        return
    opset = load_operator_set(set_name)
    table = Table("signature", "description", "impl", title=f"operator set {opset.name}")
    for op in opset.operators:
        table.add_row(op.signature, op.description, op.impl)
    console.print(table)


@app.command("run")
def run_cmd(
    workflow_arg: str = typer.Argument(..., metavar="WORKFLOW", help="Workflow file (`async def solve(problem, ops)`) or a reference workflow name: io, cot, cot_sc, self_refine, programmer_sc, code_test, retrieve_answer."),
    task: str = typer.Option(..., "--task", help="Task name (e.g. gsm8k, bbh/snarks) or a task spec .yaml."),
    split: str = typer.Option("test", "--split", help="Split to run on."),
    limit: Optional[int] = typer.Option(None, "--limit", help="First N instances of the split."),
    executor: str = typer.Option("embedded", "--executor", help="Executor model spec (embedded, hf:PATH, openai:MODEL@URL)."),
    operators: str = typer.Option("default", "--operators", help="Operator set name or YAML file."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="Instances run at once."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<task>-<workflow>-<split>); rerun to resume."),
    timeout: float = typer.Option(300.0, "--timeout", min=1, help="Seconds per instance."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Cap on every executor call's completion tokens."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
) -> None:
    """Run a workflow on task instances; print score, cost and time; write a resumable run dir."""
    import asyncio
    import math

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task
    from flowforge.workflow import validate_workflow
    from flowforge.workflow.runtime import run_workflow_on_instances

    from flowforge.workflow.reference import resolve_workflow
    from flowforge.workflow.validate import MAX_SOURCE_CHARS

    workflow = resolve_workflow(workflow_arg)
    if workflow.stat().st_size > MAX_SOURCE_CHARS:  # before reading: a huge file is never loaded
        raise UserError(f"workflow file {workflow} is {workflow.stat().st_size / 2**20:.1f} MB; "
                        f"the limit is {MAX_SOURCE_CHARS // 1000} KB")
    try:
        source = workflow.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{workflow}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    the_task = get_task(task)
    opset = load_operator_set(operators).for_task(the_task)
    try:
        validate_workflow(source, opset)
    except UserError as e:
        raise UserError(f"{workflow}: {e}") from None
    instances = the_task.load(split, limit=limit)
    if not instances:
        raise UserError(f"task {the_task.name} split {split} has no instances to run")
    out = out or Path("runs") / f"{the_task.name.replace('/', '_')}-{workflow.stem}-{split}"
    llm = load_llm(executor, cache=not no_cache)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("score {task.fields[score]}"), TimeElapsedColumn(), console=console) as bar:
        tid = bar.add_task(f"{workflow.name} on {the_task.name}/{split}", total=len(instances), score="-")
        seen: list[float] = []

        def on_result(r) -> None:
            if not math.isnan(r.score):
                seen.append(r.score)
            bar.update(tid, advance=1, score=f"{sum(seen) / len(seen):.3f}" if seen else "-")

        summary = asyncio.run(run_workflow_on_instances(
            source, the_task, instances, executor=llm, opset=opset, concurrency=concurrency,
            timeout_s=timeout, out_dir=out, max_tokens=max_tokens, meta={"split": split},
            on_result=on_result))
    table = Table("score", "n", "errors", "LLM calls", "tokens", "wall s", title=f"{workflow.name} on {the_task.name}/{split}")
    table.add_row("nan" if math.isnan(summary.score) else f"{summary.score:.3f}", str(summary.n),
                  str(summary.errors), str(summary.usage.calls), str(summary.usage.tokens), f"{summary.seconds:.1f}")
    console.print(table)
    note = f" ({summary.resumed} resumed)" if summary.resumed else ""
    console.print(f"run dir: {out}{note} (results.jsonl, traces.jsonl, summary.json); "
                  f"HTML report: flowforge report {out}", highlight=False)
    if summary.errors:
        raise typer.Exit(1)


# ---- generate / demo (generator) -------------------------------------------------------


@app.command()
def generate(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `flowforge tasks`) or a task spec YAML."),
    operators: str = typer.Option("default", "--operators", help="Operator set name or YAML path."),
    generator: Optional[str] = typer.Option(None, "--generator", help="Generator model spec; default: the shipped adapter."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", "--out", help="Where to write the workflow (default: print)."),
    samples: int = typer.Option(1, "--samples", help="Sample N workflows (best-of-N needs --select-on)."),
    select_on: Optional[str] = typer.Option(None, "--select-on", help="Split used to pick the best of N: validate or train."),
    select_limit: int = typer.Option(8, "--select-limit", help="Instances per candidate for selection."),
    executor: str = typer.Option("embedded", "--executor", help="Executor spec for best-of-N selection runs."),
    examples: int = typer.Option(0, "--examples", help="Show up to this many example problems (no answers) in the prompt."),
    attempts: int = typer.Option(ATTEMPTS, "--attempts", help="If the greedy workflow is invalid, resample up to N-1 more and keep the first valid (1: off)."),
    constrain: bool = typer.Option(True, "--constrain/--no-constrain", help="Constrain operator calls (names, keyword arguments) to the operator set while decoding (local generators)."),
    smoke: bool = typer.Option(True, "--smoke/--no-smoke", help="Run each candidate on 3 problems (inputs only) with the executor first; a crash counts as invalid."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a workflow for a task with the generator (one greedy sample by default)."""
    import asyncio

    from flowforge.generator import default_generator_spec
    from flowforge.generator.generate import generate_workflow, workflow_header
    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set
    from flowforge.tasks import get_task

    spec = generator or default_generator_spec()
    t, opset = get_task(task), load_operator_set(operators)
    gen_llm = load_llm(spec)
    exe = load_llm(executor) if select_on or smoke else None
    with console.status(f"generating with {spec}..."):
        gen = asyncio.run(generate_workflow(t, opset, gen_llm, samples=samples, select_on=select_on,
                                            select_limit=select_limit, executor=exe, seed=seed, examples=examples,
                                            attempts=attempts, constrain=constrain, smoke=smoke))
    text = workflow_header(t, opset, spec, gen) + gen.selected.source
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        console.print(f"wrote {output} ({gen.selection})")
    else:
        print(text)
    if not gen.selected.valid:
        console.print(f"[red]invalid workflow:[/red] {gen.selected.error}")
        raise typer.Exit(1)


@app.command()
def demo(
    task: str = typer.Option("synth/two_hop", "--task", help="Task to demo on (default: a held-out curriculum family)."),
    limit: int = typer.Option(20, "--limit", help="Test instances each method runs on."),
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Out dir (resumes finished cells)."),
    generator: Optional[str] = typer.Option(None, "--generator", help="Generator spec; default: the shipped adapter."),
    executor: str = typer.Option("embedded", "--executor"),
) -> None:
    """The main job on the embedded model: the generator writes one workflow for a task it never
    trained on, which runs beside io and cot on the same test instances, with what each cost."""
    from rich.syntax import Syntax

    from flowforge.evaluation.methods import parse_methods
    from flowforge.evaluation.suites import suite_cells

    if limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    meths = parse_methods("generator" + (f":{generator}" if generator else "") + ",io,cot")
    cells = suite_cells(None, [task])

    def show_workflow(results) -> None:
        gen = results[0]
        if gen.workflow:
            console.print(f"[bold]the generator's workflow[/bold] for [cyan]{gen.task}[/cyan] ({gen.label or gen.status})")
            console.print(Syntax((out / gen.workflow).read_text(), "python", theme="ansi_dark"))
        if gen.status != "ok":
            console.print(f"[red]{gen.status}:[/red] {gen.reason}", highlight=False)

    meta = {"demo": True, "tasks": task, "methods": ",".join(m.name for m in meths), "executor": executor, "limit": limit}
    results = _eval_table(meths, cells, executor=executor, out=out, limit=limit, meta=meta, before_table=show_workflow,
                          title=f"flowforge demo: {task}, {limit} test instances (obtain = generating the workflow)")
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


# ---- train (stage 1 and 2) -------------------------------------------------------------


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _synth_done(cfg) -> None:
    from flowforge.training.synth import run_synth

    s = run_synth(cfg)
    console.print(f"{s['candidates_run']} candidates ({s['valid']} valid) on {s['tasks']} tasks -> "
                  f"{s['sft_examples']} SFT examples in {cfg.out_dir / 'sft.jsonl'} ({s['seconds_this_session']:.0f} s this session)")
    console.print(f"candidates and their scores: {cfg.out_dir / 'candidates.jsonl'}; summary: "
                  f"{cfg.out_dir / 'synth_summary.json'}", highlight=False)


def _sft_done(cfg) -> None:
    from flowforge.training.sft import train_sft

    s = train_sft(cfg)
    console.print(f"{s['steps']} steps, loss {s['first_loss']} -> {s['final_loss']}, {s['wall_s_total']:.0f} s, "
                  f"peak RSS {s['peak_rss_mb']:.0f} MB; run dir {cfg.out_dir}" + (f"; adapter {cfg.export}" if cfg.export else ""))
    _print_outputs(cfg.out_dir, ["loss.png", "log.jsonl", "final"])


def _rl_done(cfg) -> None:
    from flowforge.training.rl import train_rl

    s = train_rl(cfg)
    console.print(f"{s['steps']} steps, reward {s['first_reward']} -> {s['last_reward']}, {s['wall_s']:.0f} s, "
                  f"peak RSS {s['peak_rss_mb']:.0f} MB; run dir {cfg.out_dir}" + (f"; adapter {cfg.export}" if cfg.export else ""))
    _print_outputs(cfg.out_dir, ["rl.png", "log.jsonl", "rewards.jsonl", "final"])


def _print_outputs(out_dir: Path, names: list[str]) -> None:
    """Where a finished run left its plot, logs and adapter (the main process only, under accelerate)."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return
    found = [str(out_dir / n) for n in names if (out_dir / n).exists()]
    console.print("outputs: " + ", ".join(found) + f"; HTML: flowforge report {out_dir}", highlight=False)


# Options come from the config dataclasses (flowforge/training/config.py); these are extra spellings.
_ALIASES = {"out_dir": ("--out",), "learning_rate": ("--lr",), "candidates_per_task": ("--candidates",),
            "max_heavy_per_task": ("--max-heavy",)}
config_command(train_app, "synth", SynthConfig, _synth_done, aliases=_ALIASES,
               help="Stage 1 data: run template (and teacher) workflows on training tasks, keep the best as SFT pairs.")
config_command(train_app, "sft", SFTRunConfig, _sft_done, aliases=_ALIASES,
               help="Stage 1: LoRA SFT of the generator on synthetic workflows (resumable).")
config_command(train_app, "rl", RLRunConfig, _rl_done, aliases=_ALIASES,
               help="Stage 2: GRPO with workflow-execution reward (resumable).")


# ---- eval / search / report (evaluation) -----------------------------------------------


@app.command("eval")
def eval_cmd(
    suite: Optional[str] = typer.Option(None, help="in-domain | held-out | new-operators | all | curriculum | "
                                        "curriculum-held-out (default held-out, unless --tasks is given)"),
    methods: str = typer.Option("io,cot,generator", help="comma list: io, cot, cot_sc, self_refine (any reference "
                                "workflow), a workflow file PATH.py, search[:OPTIMIZER], generator[:SPEC], "
                                "generator_bo<N>[:SPEC]"),
    executor: str = typer.Option("embedded", help="model spec of the executor"),
    limit: Optional[int] = typer.Option(None, help="test instances per task (default: all)"),
    tasks: Optional[str] = typer.Option(None, help="comma list of built-in task names and/or task spec .yaml paths "
                                        "(with --suite: each gets the suite's operator sets)"),
    operators: Optional[str] = typer.Option(None, help="operator set name or YAML for every cell"),
    search_rounds: int = typer.Option(3, help="rounds for the search method"),
    search_limit: int = typer.Option(8, help="tuning-split instances per search evaluation"),
    select_limit: int = typer.Option(8, help="tuning-split instances for best-of-N selection"),
    out: Path = typer.Option(Path("runs/eval"), help="out dir (resumes finished cells)"),
) -> None:
    """Methods x tasks on TEST splits: score, cost of obtaining each workflow, cost per instance."""
    from flowforge.evaluation.methods import parse_methods
    from flowforge.evaluation.suites import DEFAULT_SUITE, suite_cells

    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    meths = parse_methods(methods)
    cells = suite_cells(suite, _csv(tasks), operators)
    title = suite or ("tasks " + ", ".join(dict.fromkeys(c.task for c in cells)) if tasks else DEFAULT_SUITE)
    meta = {"suite": suite or (None if tasks else DEFAULT_SUITE), "tasks": tasks, "methods": methods,
            "executor": executor, "limit": limit}
    results = _eval_table(meths, cells, executor=executor, out=out, limit=limit, meta=meta,
                          title=f"flowforge eval: {title} (test splits)", search_rounds=search_rounds,
                          search_limit=search_limit, select_limit=select_limit)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _eval_table(meths, cells, *, executor: str, out: Path, limit: Optional[int], meta: dict, title: str,
                before_table=None, **search) -> list:
    """Run (resuming) the eval cells with a progress bar, then write and print the table and the
    report. `before_table(results)` prints anything that belongs above the table."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flowforge.evaluation.report import write_report
    from flowforge.evaluation.run import run_eval
    from flowforge.evaluation.tables import rich_table, write_tables

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        tid = bar.add_task("eval cells", total=len(meths) * len(cells))

        def progress(res, cached: bool) -> None:
            bar.console.print(f"{'[dim]cached[/dim] ' if cached else ''}{res.method} × {res.task}"
                              f"{'' if res.operators == 'default' else '@' + res.operators}: {res.cell_text()}",
                              highlight=False)
            bar.advance(tid)

        results = asyncio.run(run_eval(meths, cells, executor_spec=executor, out_dir=out, limit=limit,
                                       progress=progress, **search))
    paths = write_tables(results, out, meta)
    if before_table is not None:
        before_table(results)
    console.print(rich_table(results, title))
    console.print("tables: " + ", ".join(str(p) for p in paths), highlight=False)
    console.print(f"report (table, score against obtain-cost plot, workflows): {write_report(out)}", highlight=False)
    return results


@app.command("search")
def search_cmd(
    task: str = typer.Option(..., help="task name or path to a task .yaml"),
    rounds: int = typer.Option(5, help="optimisation rounds after the seed workflow"),
    optimizer: str = typer.Option("embedded", help="model spec of the optimizer LLM"),
    executor: str = typer.Option("embedded", help="model spec of the executor"),
    operators: str = typer.Option("default", help="operator set"),
    split: Optional[str] = typer.Option(None, help="search split (validate or train; never test)"),
    val_limit: int = typer.Option(8, help="search-split instances per evaluation"),
    seed_workflow: str = typer.Option("cot", help="reference workflow to start from (io, cot, ...)"),
    out: Optional[Path] = typer.Option(None, help="out dir (default runs/search/<task>); resumes"),
) -> None:
    """AFlow-style search baseline; every optimizer and executor call is counted."""
    import asyncio
    import re

    from rich.table import Table

    from flowforge.llm import load_llm
    from flowforge.operators import load_operator_set
    from flowforge.search.aflow import SearchConfig, run_search
    from flowforge.tasks import get_task

    cfg = SearchConfig(rounds=rounds, val_limit=val_limit, split=split, seed_workflow=seed_workflow)
    t = get_task(task)
    opset = load_operator_set(operators)
    out = out or Path("runs/search") / re.sub(r"[^A-Za-z0-9_.-]+", "_", t.name)
    exe = load_llm(executor)
    opt = exe if optimizer == executor else load_llm(optimizer)
    with console.status(f"searching {t.name}: seed + {rounds} rounds; history in {out / 'history.jsonl'}"):
        res = asyncio.run(run_search(t, opset, optimizer=opt, executor=exe, out_dir=out, config=cfg))
    table = Table(title=f"search on {t.name}")
    for col in ("round", "parent", "status", "score", "optimizer calls", "executor calls"):
        table.add_column(col, justify="right")
    for h in res.history:
        table.add_row(str(h.round), "" if h.parent is None else str(h.parent),
                      "valid" if h.valid else f"[red]invalid: {h.error}[/red]",
                      "" if h.score is None else f"{h.score:.3f}", str(h.optimizer_usage.get("calls", 0)),
                      str(h.executor_usage.get("calls", 0)))
    console.print(table)
    console.print(f"best: round {res.best_round}, score {res.best_score:.3f}; total cost {res.usage.calls} "
                  f"LLM calls, {res.usage.tokens} tokens; wrote {out / 'best.py'}", highlight=False)
    from flowforge.evaluation.report import write_report

    console.print(f"history: {out / 'history.jsonl'}; report (score per round): {write_report(out)}", highlight=False)


@app.command("report")
def report_cmd(
    path: Path = typer.Argument(..., help="a run, eval, search or training dir"),
    out: Optional[Path] = typer.Option(None, help="HTML file (default DIR/report.html)"),
) -> None:
    """A static self-contained HTML page: workflow code and graph, scores, traces, plots. On an
    eval dir it also prints the methods x tasks table and where the score/cost plot is."""
    from flowforge.evaluation.report import COST_PLOT, read_eval, write_report

    page = write_report(path, out)
    if (path / "eval.json").is_file():
        from flowforge.evaluation.tables import rich_table

        cells, data = read_eval(path)
        meta = data.get("meta", {})
        console.print(rich_table(cells, f"flowforge eval: {meta.get('suite') or meta.get('tasks') or path}"))
        if (path / COST_PLOT).is_file():
            console.print(f"score against obtain cost: {path / COST_PLOT}", highlight=False)
    console.print(f"wrote {page}", highlight=False)



def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    from rich.markup import escape

    err = Console(stderr=True, soft_wrap=True)
    try:
        rc = app(standalone_mode=False)  # typer returns (not raises) Exit codes, 130 for Ctrl-C included
    except UserError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)  # escape keeps "[rule]" ids
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        rc = 130
    except Exception as e:  # usage errors; typer >= 0.22 vendors click, so click.ClickException misses them
        import click

        if not isinstance(e, (click.ClickException, typer.TyperException)):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()  # bare `flowforge` / `flowforge train`: the help text
        else:
            err.print(f"[red]error:[/red] {escape(e.format_message())}", highlight=False)
        sys.exit(e.exit_code)
    if rc == 130:
        err.print("[yellow]interrupted[/yellow]")
    sys.exit(rc if isinstance(rc, int) else 0)
