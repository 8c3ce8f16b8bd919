"""``python -m tierflow.cli``: the same command as ``tierflow``."""

from tierflow.cli import main

main()
