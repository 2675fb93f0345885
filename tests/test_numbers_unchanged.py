"""Refactors keep every number: loss, terms and gradients against version 0.2.

For each likelihood and balancer the command line can build, a model with
seeded weights computes one training batch's loss, distortion, rate and the
gradients' norms, then takes two optimiser steps. `EXPECTED` holds what
tfvae 0.2.0 (the code before the likelihood registry and the structural
step) computed for the same weights, batch and noise; regenerate it only for
an intended change of numbers, with

    python tests/test_numbers_unchanged.py > tests/data/numbers_0_2.json

from the commit whose numbers are the reference.
"""

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED_FILE = os.path.join(HERE, "data", "numbers_0_2.json")

CASES = {
    "bernoulli": {"likelihood": "bernoulli"},
    "continuous_bernoulli": {"likelihood": "continuous_bernoulli"},
    "gaussian_fixed": {"likelihood": "gaussian", "sigma": "0.5"},
    "gaussian_learned": {"likelihood": "gaussian", "sigma": "learned"},
    "gaussian_channel": {"likelihood": "gaussian",
                         "sigma": "learned_channel"},
    "gaussian_pixel": {"likelihood": "gaussian", "sigma": "learned_pixel"},
    "gaussian_optimal": {"likelihood": "gaussian", "sigma": "optimal"},
    "gaussian_identity_mean": {"likelihood": "gaussian",
                               "gaussian_mean": "identity"},
    "mean_mean_beta_norm": {"likelihood": "bernoulli",
                            "rec_reduction": "mean", "kl_reduction": "mean",
                            "beta_norm": 0.1},
    "monte_carlo_kl": {"kl_estimator": "monte_carlo"},
    "linear": {"kl_schedule": "linear", "kl_warmup_steps": 10},
    "sigmoid": {"kl_schedule": "sigmoid", "kl_warmup_steps": 10},
    "cyclical": {"kl_schedule": "cyclical", "kl_warmup_steps": 10},
    "free_bits": {"free_bits": 0.5},
    "free_bits_example": {"free_bits": 0.5, "free_bits_mode": "example"},
    "capacity": {"balancer": "capacity", "capacity_steps": 10},
    "geco": {"balancer": "geco", "geco_target": 0.1},
    "controlvae": {"balancer": "controlvae", "control_kl_target": 3.0},
    "beta_tcvae": {"balancer": "beta_tcvae"},
    "factorvae": {"balancer": "factorvae"},
    "dip_vae_i": {"balancer": "dip_vae_i"},
    "dip_vae_ii": {"balancer": "dip_vae_ii"},
    "reference_l2": {"model": "reference", "reference_rec": "l2"},
    "reference_bce": {"model": "reference", "reference_rec": "bce"},
}
EVENT_SHAPE = (8, 8, 1)
BATCH = 16


def _batch():
  rng = np.random.RandomState(123)
  return rng.uniform(size=(BATCH,) + EVENT_SHAPE).astype(np.float32)


def compute(name):
  """{quantity: value} of case `name` (see the module docstring)."""
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.models.factory import build_model  # pylint: disable=import-outside-toplevel

  config = ExperimentConfig.from_flat(dict(CASES[name], latent_dim=4,
                                           hidden_units=32)).validate()
  keras.utils.set_random_seed(7)
  model = build_model(config, EVENT_SHAPE, total_steps=20,
                      data_in_unit_interval=True, dataset_size=256)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  x = tf.constant(_batch())
  model.optimizer.build(model.trainable_variables)
  with tf.GradientTape() as tape:
    terms = model.compute_terms(x, training=True)
  variables = [v for v in model.trainable_variables if id(v) not in {
      id(o) for o in model.own_trainable_variables()}]
  grads = tape.gradient(terms["loss"], variables)
  out = {
      "loss": float(terms["loss"]),
      "distortion": float(tf.reduce_mean(terms["distortion"])),
      "rate": float(tf.reduce_mean(terms["rate"])),
      "grad_norm": float(tf.linalg.global_norm(
          [g for g in grads if g is not None])),
  }
  logs = None
  for _ in range(2):
    logs = model.train_on_batch(x, return_dict=True)
  out["loss_after_2_steps"] = float(logs["loss"])
  out["neg_elbo_after_2_steps"] = float(logs["neg_elbo"])
  return out


def _expected():
  with open(EXPECTED_FILE) as f:
    return json.load(f)


@pytest.mark.parametrize("name", sorted(CASES))
def test_numbers_equal_version_0_2(name):
  expected = _expected()[name]
  got = compute(name)
  for key, value in expected.items():
    np.testing.assert_allclose(got[key], value, rtol=2e-5, atol=1e-6,
                               err_msg=f"{name}: {key}")


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(HERE))
  print(json.dumps({name: compute(name) for name in sorted(CASES)},
                   indent=1, sort_keys=True))
