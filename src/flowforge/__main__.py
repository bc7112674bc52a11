"""`python -m flowforge ...`: the same command line as `flowforge ...` (see cli.py)."""
from flowforge.cli import main

main()
