"""Commands (stages, tools): progress in the log, a failure the user can act on as one line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable


class CommandError(Exception):
    """A failure the user can act on; reported as one line, without a traceback."""


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_command(main: Callable[[], None]) -> None:
    """Run a command's main(): log progress, report a CommandError as one line and exit 1."""
    setup_logging()
    try:
        main()
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
