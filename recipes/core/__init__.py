"""The core every application shares (no module here knows any application).

- ``errors.py``: :class:`UserError`, the one-line error a user sees.
- ``config.py``: config classes: typed fields with ranges and documentation,
  :class:`TrainConfig` (the training settings every recipe config extends), TOML.
- ``data.py``: data sources: local text files and folders, tensorflow-datasets, splits.
- ``training.py``: run-folder files, checkpoints and resume, time budget, learning-rate
  schedule, weight averaging, plots.
- ``recipe.py``: :class:`Recipe`, the life cycle: configure, fit, evaluate, the task
  verb, save, load, export.
- ``runs.py``: :func:`load_run`, a run folder back as its recipe.
- ``exports.py``: names a package offers from its modules on first use.
"""
