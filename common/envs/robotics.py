"""gymnasium-robotics, imported without the notice it prints on every import.

gymnasium-robotics 1.4.2 prints (through the ``farama_notifications`` package) a warning that the
Adroit hand environments' rewards changed in 1.2.1. moto never uses Adroit, and the line made every
kitchen command look broken, so the notice is dropped before the import. Nothing else changes.
"""

# ruff: noqa: E402, I001
from __future__ import annotations

try:
    import farama_notifications

    farama_notifications.notifications.pop("gymnasium_robotics", None)
except ImportError:  # an older or newer gymnasium-robotics without the notice
    pass

import gymnasium_robotics
from gymnasium_robotics.envs.franka_kitchen import franka_env
from gymnasium_robotics.envs.franka_kitchen.franka_env import DEFAULT_CAMERA_CONFIG
from gymnasium_robotics.envs.franka_kitchen.kitchen_env import BONUS_THRESH, OBS_ELEMENT_GOALS, OBS_ELEMENT_INDICES

__all__ = [
    "BONUS_THRESH",
    "DEFAULT_CAMERA_CONFIG",
    "OBS_ELEMENT_GOALS",
    "OBS_ELEMENT_INDICES",
    "franka_env",
    "gymnasium_robotics",
]
