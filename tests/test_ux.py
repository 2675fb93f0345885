"""Small UX rules: defaults a user expects, flags that would be ignored, spreads.

- `--kl_schedule=cyclical` without `--kl_warmup_steps` spans the whole run
  (Fu et al. 2019's frange_cycle_linear over the run's steps).
- `scripts/sweep.py --logdir=...` (ignored: each point has its own run
  directory) is refused with the flag to use instead, writing nothing.
- `benchmarks/measure_tables.py` runs a README command over seeds and prints
  mean ± sd; its statistics match numpy's.
"""

import os
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import ROOT, run_script
from test_schedules import frange_cycle_reference
import tensorflow as tf

from tfvae.config import ExperimentConfig
from tfvae.models import factory

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import measure_tables  # pylint: disable=import-error,wrong-import-position


def _weights(config, run_steps):
  """The balancer's weight at every step of a run of `run_steps` steps."""
  balancer = factory.build_balancer(config, total_steps=run_steps)
  return np.array([float(balancer.weight(TERMS, tf.constant(step)))
                   for step in range(run_steps)])


# The balancer reads only the Weighting's weight of the terms.
TERMS = types.SimpleNamespace(kl_weight=1.0)


def test_cyclical_schedule_defaults_to_the_whole_run():
  config = ExperimentConfig.from_flat(kl_schedule="cyclical",
                                      kl_stop=1.0).validate()
  assert config.balancer.kl_warmup_steps == 0
  run_steps = 400
  expected = frange_cycle_reference(run_steps, 0.0, 1.0,
                                    config.balancer.kl_cycles,
                                    config.balancer.kl_cycle_ratio)
  np.testing.assert_allclose(_weights(config, run_steps), expected, atol=1e-6)
  # An explicit period still wins.
  config = ExperimentConfig.from_flat(kl_schedule="cyclical", kl_stop=1.0,
                                      kl_warmup_steps=100).validate()
  expected = np.concatenate([frange_cycle_reference(100, 0.0, 1.0, 4, 0.5),
                             np.ones(300)])
  np.testing.assert_allclose(_weights(config, run_steps), expected, atol=1e-6)


def test_linear_warmup_still_needs_its_length():
  from tfvae.errors import ConfigError  # pylint: disable=import-outside-toplevel
  with pytest.raises(ConfigError, match="kl_warmup_steps > 0"):
    ExperimentConfig.from_flat(kl_schedule="linear").validate()


def test_sweep_refuses_logdir_naming_sweep_dir(tmp_path):
  target = tmp_path / "x"
  out = run_script("sweep.py", f"--logdir={target}", "--grid=beta=1,2",
                   f"--sweep_dir={tmp_path / 'sweep'}", "--dry_run",
                   timeout=300)
  assert out.returncode == 2
  lines = [line for line in out.stderr.splitlines() if line.strip()]
  assert lines == ["sweep.py: error: --logdir is not used by sweep.py; use "
                   "--sweep_dir=DIR (each point's run directory is "
                   "DIR/<point>)"], out.stderr
  assert not target.exists() and not (tmp_path / "sweep").exists()
  # A --logdir from a flagfile (every preset has one) is still fine.
  out = run_script("sweep.py", "--flagfile=scripts/flags/bernoulli.flags",
                   "--grid=beta=1,2", f"--sweep_dir={tmp_path / 'sweep'}",
                   "--dry_run", timeout=300)
  assert out.returncode == 0, out.stderr


def test_mean_and_spread_match_numpy():
  values = [1.5, 2.0, 4.25]
  mean, sd = measure_tables.mean_sd(values)
  assert mean == pytest.approx(np.mean(values))
  assert sd == pytest.approx(np.std(values, ddof=1))
  assert measure_tables.mean_sd([3.0]) == (3.0, 0.0)
  finals = [{"neg_elbo": v, "train_seconds": 1.0} for v in values]
  lines = measure_tables.summarise([("default", finals)])
  row = lines[2]
  assert f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}" in row
  assert "[1.50, 4.25]" in row and "| – |" in row  # No rate: a dash.


@pytest.mark.slow
def test_measure_tables_runs_a_readme_command_over_seeds(tmp_path):
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "benchmarks", "measure_tables.py"),
       "--tables=headline", "--seeds=0,1", "--steps=10",
       f"--out={tmp_path}"], capture_output=True, text=True, timeout=600,
      cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.startswith("machine: ")
  assert "cores" in proc.stdout.splitlines()[0]
  table = [line for line in proc.stdout.splitlines()
           if line.startswith("| `default`")]
  assert len(table) == 1 and "| 2 |" in table[0], proc.stdout
  for seed in (0, 1):
    assert (tmp_path / "headline" / "default" / f"seed{seed}" /
            "final_metrics.json").exists()
