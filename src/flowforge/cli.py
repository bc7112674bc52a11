"""flowforge command line. Every command imports its heavy parts lazily so `--help` stays fast.

Exit codes: 0 ok, 1 a run finished with failures, 2 bad input or config.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from flowforge.errors import UserError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
train_app = typer.Typer(no_args_is_help=True, help="Stage 1 (synth, sft) and stage 2 (rl) training.")
app.add_typer(train_app, name="train")
console = Console()

# ---- tasks (foundation) ----------------------------------------------------------------

# ---- llm (foundation: serve) -----------------------------------------------------------

# ---- operators / run (runtime) ---------------------------------------------------------

# ---- generate / demo (generator) -------------------------------------------------------

# ---- train (stage 1 and 2) -------------------------------------------------------------

# ---- eval / search / report (evaluation) -----------------------------------------------


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except UserError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(2)
        raise
