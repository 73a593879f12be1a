"""`python -m flows.cli` runs the `ytocc` command line (same as the console script)."""

from flows.cli import main

main()
