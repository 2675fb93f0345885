"""The KL-part balancers inside a training step that follows the protocol.

`ProtocolVAE` is a minimal model that uses a balancer exactly as
`tfvae.balancing.base` prescribes: build `Terms`, take
`average_over_batch(per_example) + extra_loss`, leave the balancer's
`own_trainable_variables` out of the VAE's update, apply `updates`, then call
`train_own(terms, step)`. On a small dSprites-like set (downsampled to
32x32) it checks that beta-TCVAE with beta = 6 ends with a lower total
correlation than beta = 1 (same steps, seed, data), and that FactorVAE and
DIP-VAE train and resume from a checkpoint to the same weights as an
uninterrupted run.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae.balancing import base
from tfvae.balancing import kl_parts  # pylint: disable=unused-import
from tfvae.data.dsprites import DSpritesLike
from tfvae.metrics import diagnostics
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib

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


class ProtocolVAE(keras.Model):
  """A Bernoulli MLP VAE whose loss is its balancer's (see the module doc)."""

  def __init__(self, balancer, num_features, seed=0):
    super().__init__()
    keras.utils.set_random_seed(seed)
    self.encoder = keras.Sequential([keras.layers.Dense(128, "relu"),
                                     keras.layers.Dense(2 * LATENT)])
    self.decoder = keras.Sequential([keras.layers.Dense(128, "relu"),
                                     keras.layers.Dense(num_features)])
    self.encoder.build((None, num_features))
    self.decoder.build((None, LATENT))
    self.balancer = balancer
    self.num_features = num_features
    self.noise_seed = seed
    self.vae_optimizer = keras.optimizers.Adam(1e-3)
    self.vae_optimizer.build(self.vae_variables())

  def vae_variables(self):
    own = {id(v) for v in self.balancer.own_trainable_variables}
    return [v for v in self.trainable_variables if id(v) not in own]

  def encode(self, x):
    mean, log_variance = tf.split(self.encoder(x), 2, axis=1)
    return mean, log_variance

  def terms(self, x, step):
    mean, log_variance = self.encode(x)
    eps = tf.random.stateless_normal(
        tf.shape(mean), seed=tf.stack([tf.constant(self.noise_seed, tf.int64),
                                       tf.cast(step, tf.int64)]))
    z = mean + tf.exp(0.5 * log_variance) * eps
    logits = self.decoder(z)
    distortion = tf.reduce_sum(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), 1)
    kl_per_dim = kl_lib.gaussian_kl(mean, log_variance)
    rate = tf.reduce_sum(kl_per_dim, 1)
    return base.Terms(
        distortion=distortion, rate=rate, kl_per_dim=kl_per_dim,
        rec=distortion, kl=rate, kl_weight=tf.constant(1.0), z=z,
        z_mean=mean, z_log_variance=log_variance,
        num_features=self.num_features, latent_dim=LATENT, rec_divisor=1.0,
        kl_divisor=1.0)

  @tf.function
  def train_step_on(self, x):
    step = tf.identity(self.vae_optimizer.iterations)
    variables = self.vae_variables()
    with tf.GradientTape() as tape:
      terms = self.terms(x, step)
      out = self.balancer.balance(terms, step, training=True)
      loss = elbo.average_over_batch(out.per_example) + out.extra_loss
    self.vae_optimizer.apply_gradients(
        zip(tape.gradient(loss, variables), variables))
    for variable, value in out.updates:
      variable.assign(value)
    self.balancer.train_own(terms, step)
    return loss


def build(name, kwargs, num_features):
  """The balancer and the model, every initial weight from seed 0."""
  keras.utils.set_random_seed(0)
  return ProtocolVAE(base.get(name, **kwargs), num_features)


def train(model, data, steps):
  for _ in range(steps):
    start = int(model.vae_optimizer.iterations.numpy()) * BATCH % (
        len(data) - BATCH)
    model.train_step_on(tf.constant(data[start:start + BATCH]))


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
                             optimizer=first.vae_optimizer).save(
                                 str(tmp_path / "ckpt"))
  resumed = build(name, kwargs, data.shape[1])
  status = tf.train.Checkpoint(model=resumed,
                               optimizer=resumed.vae_optimizer).restore(path)
  status.assert_existing_objects_matched()
  assert int(resumed.vae_optimizer.iterations.numpy()) == 3
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
  from tfvae.config import Config  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  logdir = str(tmp_path / "run")
  config = Config(steps=60, eval_every=30, checkpoint_every=60, logdir=logdir,
                  latent_dim=4, hidden_units=64, verbose=0).validate()
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
