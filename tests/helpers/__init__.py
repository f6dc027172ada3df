"""What several test modules share, imported by name (``from helpers.learner import tiny_config``):
pytest puts ``tests/`` on sys.path (pyproject.toml's ``pythonpath``). Fixtures stay in conftest.py
files; a test never imports a conftest, since ``conftest`` would name whichever one pytest loaded last.
"""
