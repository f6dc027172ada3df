"""Errors caused by the user's input (config, paths, data): the CLI prints them without a traceback.

Each message names the problem and the fix. Bugs stay ordinary exceptions with tracebacks.
"""


class UserError(Exception):
    """Bad input the user can fix: the message says what and how."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or its type's name when the message is empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
