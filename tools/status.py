"""`make status STACK=<stack> STATUS_ARGS=...`: the repository's entry point of components/status.py (installed, the
same code is `kosmos status`)."""

import sys

from components.status import main

if __name__ == "__main__":
    sys.exit(main())
