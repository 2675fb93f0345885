"""The KL-part balancers inside a training step that follows the protocol.

A Bernoulli MLP `tfvae.VAE` trains with each balancer through the protocol
(`tfvae.balancing.base`). On a small dSprites-like set (downsampled to
32x32) it checks that beta-TCVAE with beta = 6 ends with a lower total
correlation than beta = 1 (same steps, seed, data), and that FactorVAE and
DIP-VAE train and resume from a checkpoint to the same weights as an
uninterrupted run.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tfvae.balancing import base
from tfvae.data.dsprites import DSpritesLike
from tfvae.metrics import diagnostics
from tfvae.runs import checkpoints

LATENT = 6
BATCH = 64


def dsprites_subset(count=1536, seed=0):
  """[count, 1024] float32 binary images: dSprites-like, 2x2 max-pooled."""
  rng = np.random.RandomState(seed)
  source = DSpritesLike()
  index = np.sort(rng.choice(source.num_images, count, replace=False))
  images = source.images(index).astype(np.float32)
  pooled = images.reshape(count, 32, 2, 32, 2).max(axis=(2, 4))
  return pooled.reshape(count, -1)


def build(name, kwargs, num_features):
  """A Bernoulli MLP `tfvae.VAE` with the balancer, every weight from seed 0."""
  keras.utils.set_random_seed(0)
  encoder = keras.Sequential([keras.Input((num_features,)),
                              keras.layers.Dense(128, "relu"),
                              keras.layers.Dense(2 * LATENT)])
  decoder = keras.Sequential([keras.Input((LATENT,)),
                              keras.layers.Dense(128, "relu"),
                              keras.layers.Dense(num_features)])
  model = tfvae.VAE(encoder, decoder, likelihood=tfvae.likelihoods.Bernoulli(),
                    balancer=base.get(name, **kwargs))
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.build((None, num_features))
  checkpoints.build_optimizer(model)
  return model


def train(model, data, steps):
  for _ in range(steps):
    start = int(model.optimizer.iterations.numpy()) * BATCH % (
        len(data) - BATCH)
    model.train_on_batch(data[start:start + BATCH])


def validation_parts(model, data):
  mean, log_variance = model.encode(tf.constant(data))
  return diagnostics.kl_parts(mean.numpy(), log_variance.numpy())


def test_beta_tcvae_with_beta_6_ends_with_lower_tc_than_beta_1():
  data = dsprites_subset()
  train_data, validation = data[:1280], data[1280:]
  tc = {}
  for beta in (1.0, 6.0):
    model = build("beta_tcvae", dict(dataset_size=len(train_data), beta=beta),
                  data.shape[1])
    train(model, train_data, 300)
    parts = validation_parts(model, validation)
    tc[beta] = parts["total_correlation"]
  # Measured: 6.6 nats (beta 1) and 2.5 nats (beta 6).
  assert tc[6.0] < tc[1.0] - 1.0


def _weights(model):
  return [v.numpy() for v in model.weights]


@pytest.mark.parametrize("name,kwargs", [
    ("factorvae", dict(latent_dim=LATENT, discriminator_units=32,
                       discriminator_layers=2)),
    ("dip_vae_i", {}),
    ("dip_vae_ii", {}),
])
def test_trains_checkpoints_and_resumes_like_an_uninterrupted_run(
    name, kwargs, tmp_path):
  data = dsprites_subset(count=512)
  straight = build(name, kwargs, data.shape[1])
  before = _weights(straight)
  train(straight, data, 6)
  assert all(np.all(np.isfinite(w)) for w in _weights(straight))
  assert not all(np.array_equal(a, b) for a, b in
                 zip(before, _weights(straight)))

  first = build(name, kwargs, data.shape[1])
  train(first, data, 3)
  path = tf.train.Checkpoint(model=first,
                             optimizer=first.optimizer).save(
                                 str(tmp_path / "ckpt"))
  resumed = build(name, kwargs, data.shape[1])
  status = tf.train.Checkpoint(model=resumed,
                               optimizer=resumed.optimizer).restore(path)
  status.assert_existing_objects_matched()
  assert int(resumed.optimizer.iterations.numpy()) == 3
  train(resumed, data, 3)
  for a, b in zip(_weights(straight), _weights(resumed)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  if name == "factorvae":
    assert int(resumed.balancer.discriminator_optimizer.iterations.numpy()) \
        == 6


def test_every_run_reports_the_rate_split(tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=import-outside-toplevel
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  logdir = str(tmp_path / "run")
  config = ExperimentConfig.from_flat(dict(
      steps=60, eval_every=30, checkpoint_every=60, logdir=logdir,
      latent_dim=4, hidden_units=64, verbose=0)).validate()
  final = trainer.train(config, print_fn=lambda *_: None)
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    saved = json.load(f)
  parts = [saved[k] for k in ("index_code_mi", "total_correlation",
                              "dimwise_kl")]
  assert all(np.isfinite(parts)) and saved["kl_parts_batch"] >= 2
  assert final["total_correlation"] == saved["total_correlation"]
  # A Monte Carlo rate: close to the closed form (J = 4, ~180 examples).
  assert abs(sum(parts) - saved["rate"]) < 0.5
  events = event_accumulator.EventAccumulator(
      os.path.join(logdir, "validation"), size_guidance={"tensors": 0})
  events.Reload()
  tags = set(events.Tags()["tensors"]) | set(events.Tags()["scalars"])
  assert {"index_code_mi", "total_correlation", "dimwise_kl"} <= tags
