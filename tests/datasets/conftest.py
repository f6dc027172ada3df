"""Fixtures of the datasets tests; the kitchen files themselves are built in kitchen_files.py."""

from kitchen_files import kitchen_rollouts  # noqa: F401  (a session fixture)
