"""``python -m twolayer``: the command-line interface (see ``twolayer.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
