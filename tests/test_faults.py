"""Non-finite losses: a one-line stop; the last good checkpoint survives.

The reliable trigger: train on an npz file, then replace the file's contents
with huge (finite) values of the same shape and resume; the Gaussian NLL of
1e30 overflows at the first resumed step. The run dir compares only the data
set's path, so the resume is accepted and the step is known exactly.
"""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_script
from tfvae.config import ExperimentConfig
from tfvae.models.factory import build_model
from tfvae.callbacks import training as cb
from tfvae.runs import checkpoints

SMALL = ["--hidden_units=16", "--latent_dim=2", "--verbose=0",
         "--checkpoint_every=10", "--eval_every=10"]


def _files(directory):
  out = {}
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    with open(path, "rb") as f:
      out[name] = (f.read(), os.stat(path).st_mtime_ns)
  return out


def _stderr_lines(proc):
  return [line for line in proc.stderr.splitlines() if line.strip()]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  data, logdir = str(tmp_path / "data.npz"), str(tmp_path / "run")
  rng = np.random.RandomState(0)
  good = rng.uniform(size=(200, 8, 8)).astype(np.float32)
  np.savez(data, x=good)
  flags = [f"--dataset=npz:{data}", f"--logdir={logdir}", *SMALL]
  out = run_script("train.py", "--steps=20", *flags)
  assert out.returncode == 0, out.stderr
  ckpt_dir = os.path.join(logdir, "checkpoints")
  before = _files(ckpt_dir)

  np.savez(data, x=np.full_like(good, 1e30))
  out = run_script("train.py", "--steps=40", *flags)
  assert out.returncode == 2
  lines = _stderr_lines(out)
  assert len(lines) == 1, out.stderr
  match = re.fullmatch(
      r"train\.py: error: non-finite values at step 21: (.*); last good "
      r"checkpoint: (\S+) \(lower --learning_rate or check the data\)",
      lines[0])
  assert match, lines[0]
  terms = dict(item.split("=") for item in match.group(1).split(", "))
  assert "loss" in terms and "distortion" in terms
  assert all(value in ("nan", "inf", "-inf") for value in terms.values())
  assert match.group(2) == os.path.join(ckpt_dir, "ckpt-20")

  # The checkpoints are untouched, finite and restorable.
  assert _files(ckpt_dir) == before
  reader = tf.train.load_checkpoint(match.group(2))
  for key in reader.get_variable_to_shape_map():
    value = reader.get_tensor(key)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
      assert np.all(np.isfinite(value)), key
  config = ExperimentConfig.from_flat(
      dataset=f"npz:{data}", hidden_units=16, latent_dim=2).validate()
  checkpoints.restore_model(build_model(config, (8, 8, 1)), match.group(2))


def test_exploding_learning_rate_is_named_with_its_step(tmp_path):
  logdir = str(tmp_path / "run")
  out = run_script("train.py", "--learning_rate=1e30", "--steps=40",
                   f"--logdir={logdir}", *SMALL)
  assert out.returncode == 2
  lines = _stderr_lines(out)
  assert len(lines) == 1, out.stderr
  # Adam moves every weight by ~1e30 at step 1; step 2 overflows.
  assert re.match(r"train\.py: error: non-finite values at step 2: loss=nan",
                  lines[0]), lines[0]
  assert not os.path.exists(os.path.join(logdir, "final_metrics.json"))


def test_checkpoint_with_non_finite_weights_is_refused(tmp_path):
  config = ExperimentConfig.from_flat(hidden_units=8, latent_dim=2).validate()
  model = build_model(config, (8, 8, 1))
  model.compile(optimizer="adam")
  checkpoints.build_optimizer(model)
  manager = checkpoints.make_manager(model, str(tmp_path), max_to_keep=2)
  saver = cb.PeriodicCheckpoint(manager, every=1)
  saver.set_model(model)
  saver.save(0)
  good = manager.latest_checkpoint
  kernel = model.encoder.trainable_weights[0]
  kernel.assign(tf.fill(kernel.shape, float("nan")))
  with pytest.raises(cb.NonFiniteLossError, match=r"non-finite weights after "
                     r"step 5 \(.*\); not saved, last good checkpoint: "):
    saver.save(5)
  assert manager.latest_checkpoint == good
  assert tf.train.latest_checkpoint(str(tmp_path)) == good
