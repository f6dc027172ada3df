"""Dataset builders that run the scripted experts (``moto datasets build``).

They live in ``deploy/``, not ``storage/datasets/``, because they drive the producer (rollout workers
through ``moto_rl.deploy.run.demos.ensure_demos``) as well as the store: ``storage/`` never imports ``actors/``.
Importers and exporters of other formats, which only read files and write the store, stay in
``storage/datasets/``. See docs/datasets.md.
"""
