"""``python -m moto_rl``: the ``moto`` command line."""

import sys

from moto_rl.deploy.cli import main

if __name__ == "__main__":
    sys.exit(main())
