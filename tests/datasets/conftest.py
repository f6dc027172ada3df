"""Fixtures of the datasets tests; the kitchen files themselves are built in tests/helpers/kitchen_files.py."""

from helpers.kitchen_files import kitchen_rollouts  # noqa: F401  (a session fixture)
