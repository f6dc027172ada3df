"""Errors caused by the user's input (config, paths, data): the CLI prints them without a traceback.

Each message names the problem and the fix. Bugs stay ordinary exceptions with tracebacks.
"""


class UserError(Exception):
    """Bad input the user can fix: the message says what and how."""
