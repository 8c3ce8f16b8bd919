"""``python -m tierflow.cli``: the same command as ``tierflow``."""

from tierflow.cli import main

if __name__ == "__main__":
    main()
