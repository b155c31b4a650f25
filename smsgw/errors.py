"""The one error the commands raise: a message for a person and the exit code to leave with."""

from __future__ import annotations

from typing import Final

# 2 = the setup is wrong (no outputs file, stack not deployed, no credentials): the same code
# argparse uses for a wrong command line. 1 = the command ran and something refused it.
SETUP_ERROR: Final = 2
FAILED: Final = 1


class CliError(Exception):
    """Stops a command: `main` prints `message` to stderr and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
