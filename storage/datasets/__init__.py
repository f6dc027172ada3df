"""Dataset formats: build offline datasets (scripted demos) and import/export other formats.

Every importer writes through the public ``TrajectoryStore`` API only, validates a whole source
before its first append, and tags each episode with a stable source key in ``meta.worker`` so that
a rerun skips what is already stored. See docs/datasets.md.
"""
