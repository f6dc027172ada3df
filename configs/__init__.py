"""The presets (YAML), shipped inside the wheel as the package ``moto_rl.configs`` (see pyproject.toml) and
found with ``importlib.resources`` by ``common/config_loading.py``. This file only makes the folder a package."""
