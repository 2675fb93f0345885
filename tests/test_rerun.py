"""Evaluation is a function of (weights, data, seed); a finished run reruns clean.

- The diagnostics of the same weights are bit-identical however much the
  process drew from TensorFlow's global random stream before.
- Rerunning a finished run (evaluate only) restores every reported value (KL
  weight, beta, sigma, controller state) and leaves final_metrics.json byte
  for byte as it was.
- A checkpoint written before the last batch's values were saved still
  resumes.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.metrics import diagnostics
from tfvae.objectives import seeds
from tfvae.runs import checkpoints
from tfvae.runs import paths
from tfvae.training import trainer

SMALL = dict(steps=30, checkpoint_every=10, eval_every=10, hidden_units=16,
             latent_dim=3, seed=3, verbose=0)


def _model_and_data():
  data = datasets.load_data(ExperimentConfig.from_flat().validate())
  config = ExperimentConfig.from_flat(**SMALL).validate()
  tf.keras.utils.set_random_seed(0)
  model = trainer.build_compiled_model(config, data.image_shape)
  ds = pipeline.eval_dataset(data.validation[:300], data.scale, 128)
  return model, ds


def test_diagnostics_do_not_depend_on_the_global_random_stream():
  model, ds = _model_and_data()
  first, means, _ = diagnostics.evaluate(model, ds, iw_samples=3, seed=7,
                                         distortion_samples=2)
  tf.random.set_seed(123)
  tf.random.normal([1000])  # Moves the global stream on.
  model.encode(tf.zeros([1, *model.image_shape]))
  second, means_2, _ = diagnostics.evaluate(model, ds, iw_samples=3, seed=7,
                                            distortion_samples=2)
  assert first == second  # Every float, bit for bit.
  np.testing.assert_array_equal(means, means_2)
  other, _, _ = diagnostics.evaluate(model, ds, iw_samples=3, seed=8,
                                     distortion_samples=2)
  assert other["distortion"] != first["distortion"]  # The seed matters...
  assert other["rate"] == first["rate"]  # ...only for the sampled parts.
  assert model.eval_seed is None  # Restored after the evaluation.


def test_step_seeds_differ_and_are_pure():
  a = seeds.for_step(5, 100).numpy()
  np.testing.assert_array_equal(a, seeds.for_step(5, 100).numpy())
  assert not np.array_equal(a, seeds.for_step(5, 101).numpy())
  assert not np.array_equal(a, seeds.for_step(6, 100).numpy())
  # Chunks of the IWAE bound draw different samples (no repeated stream).
  x = tf.random.stateless_normal([2, 3], seed=[0, 0])
  z_a = diagnostics._posterior_samples(x, x, 4, seed=seeds.fold(a, 0))  # pylint: disable=protected-access
  z_b = diagnostics._posterior_samples(x, x, 4, seed=seeds.fold(a, 4))  # pylint: disable=protected-access
  assert not np.array_equal(z_a.numpy(), z_b.numpy())


@pytest.mark.parametrize("overrides", [
    dict(likelihood="gaussian", sigma="optimal", kl_schedule="linear",
         kl_warmup_steps=100),
    dict(likelihood="bernoulli", balancer="geco", geco_target=0.3),
])
def test_evaluate_only_rerun_leaves_final_metrics_unchanged(tmp_path,
                                                            overrides):
  config = ExperimentConfig.from_flat(logdir=str(tmp_path / "run"), **SMALL,
                  **overrides).validate()
  first = trainer.train(config, print_fn=lambda *_: None)
  path = paths.final_metrics_path(config.run.logdir)
  with open(path, "rb") as f:
    before = f.read()
  # Values that only the restored state can give (not the initial ones).
  assert 0.0 < first["kl_weight"] < 1.0 or overrides.get("balancer")
  assert first["beta_eff"] != 0.0
  if "sigma" in first:
    assert first["sigma"] > 0.0
  printed = []
  tf.keras.backend.clear_session()
  again = trainer.train(ExperimentConfig.from_flat(logdir=config.run.logdir, **SMALL,
                               **overrides).validate(),
                        print_fn=printed.append)
  assert any("evaluating only" in line for line in printed)
  with open(path, "rb") as f:
    assert f.read() == before
  assert again == first


def test_checkpoint_without_last_batch_still_resumes(tmp_path):
  config = ExperimentConfig.from_flat(logdir=str(tmp_path / "run"), **SMALL).validate()
  data = datasets.load_data(config)
  model = trainer.build_compiled_model(config, data.image_shape)
  checkpoints.build_optimizer(model)
  model.likelihood.raw_log_sigma.assign(0.25)
  model.optimizer.iterations.assign(10)
  # What make_manager wrote before it saved `last_batch`.
  old = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
  prefix = tf.train.CheckpointManager(old, str(tmp_path / "old"), 2).save(
      checkpoint_number=10)
  assert not any(k.startswith("last_batch") for k in
                 tf.train.load_checkpoint(prefix).get_variable_to_shape_map())

  fresh = trainer.build_compiled_model(config, data.image_shape)
  checkpoints.build_optimizer(fresh)
  manager = checkpoints.make_manager(fresh, str(tmp_path / "new"), 2)
  assert checkpoints.restore(manager, prefix) == prefix
  assert float(fresh.likelihood.raw_log_sigma.numpy()) == 0.25
  assert int(fresh.optimizer.iterations.numpy()) == 10
  # Another architecture is still refused.
  other = trainer.build_compiled_model(
      ExperimentConfig.from_flat(**dict(SMALL, hidden_units=8)).validate(), data.image_shape)
  checkpoints.build_optimizer(other)
  with pytest.raises(checkpoints.CheckpointError, match="does not fit"):
    checkpoints.restore(checkpoints.make_manager(other, str(tmp_path / "o"),
                                                 2), prefix)
