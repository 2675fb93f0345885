"""A training run from a config: `trainer.train` (checks, run directory,
model, restore, fit, final evaluation, export), grouped runs of several
weightings in one process (`group`), distribution strategies and precision
(`distribute`), the data checks before any step (`preflight`) and one run
across Ray workers (`ray_multi_worker`).
"""
