"""`flowforge ...` and `python -m flowforge ...`: the command line in cli.py. A Ctrl-C that lands
while the command line is still importing exits 130 with one line, as it does later."""
import sys


def main() -> None:
    try:
        from flowforge.cli import main as cli
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    cli()


if __name__ == "__main__":
    main()
