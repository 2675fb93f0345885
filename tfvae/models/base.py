"""Keras plumbing shared by tfvae's models.

A model only has to implement `compute_terms(x, training)`, which returns the
optimised loss and the true per-example quantities (distortion, rate) plus any
scalars to log. This base class turns that into `train_step` / `test_step`,
tracks every logged number under its own name (Keras 3 shadows a returned
`loss` key, see references §9), and keeps the values of the *last batch* in
non-trainable variables so TensorBoard logs per-step batch values while the
progress bar shows Keras' running means of the same numbers.
"""

import keras
import tensorflow as tf

from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib

# Every model logs these, whatever its weighting.
CORE_SCALARS = ("loss", "neg_elbo", "bits_per_dim", "rate", "distortion",
                "kl_weight", "beta_eff", "beta_norm")


def images_from_batch(data):
  """Accepts x or (x, ...) batches from tf.data."""
  if isinstance(data, (tuple, list)):
    return data[0]
  return data


class BaseVAE(keras.Model):
  """Encoder, reparameterised sample, decoder and the logging machinery."""

  def __init__(self, encoder, decoder, image_shape, latent_dim,
               extra_scalars=(), seed=0, **kwargs):
    super().__init__(**kwargs)
    self.seed = int(seed)
    # Tests of loss scaling switch the posterior noise off (z = mean) so that
    # runs with different replica counts see identical latents.
    self.sample_noise = True
    self.encoder = encoder
    self.decoder = decoder
    self.image_shape = tuple(int(d) for d in image_shape)
    self.latent_dim = int(latent_dim)
    self.num_features = 1
    for d in self.image_shape:
      self.num_features *= d
    self.scalar_names = CORE_SCALARS + tuple(extra_scalars)
    self.trackers = {
        name: keras.metrics.Mean(name=name) for name in self.scalar_names}
    # The KL weight as written on the reduced KL term; schedules assign it.
    self.kl_weight = self.add_weight(
        shape=(), initializer="ones", trainable=False, name="kl_weight",
        aggregation="only_first_replica")
    self.last_batch = {
        name: self.add_weight(shape=(), initializer="zeros", trainable=False,
                              name=f"last_{name}",
                              aggregation="only_first_replica")
        for name in self.scalar_names}

  # ------------------------------------------------------------ the model

  def encode(self, x, training=False):
    z_mean, z_log_variance = self.encoder(x, training=training)
    return (tf.cast(z_mean, tf.float32), tf.cast(z_log_variance, tf.float32))

  def decode_params(self, z, training=False):
    """Unconstrained likelihood parameters, in float32 (likelihood math)."""
    return tf.cast(self.decoder(z, training=training), tf.float32)

  def reconstruct(self, x):
    """Mean reconstruction from the posterior mean (deterministic)."""
    z_mean, _ = self.encode(x)
    return self.decode_mean(z_mean)

  def decode_mean(self, z):
    raise NotImplementedError

  def sample_posterior(self, z_mean, z_log_variance, training):
    """z ~ q(z|x); training noise is a pure function of (seed, global step)."""
    if not self.sample_noise:
      return z_mean
    if training:
      seed = tf.stack([tf.constant(self.seed, tf.int64),
                       tf.cast(self.optimizer.iterations, tf.int64)])
      return kl_lib.sample_latent(z_mean, z_log_variance, stateless_seed=seed)
    return kl_lib.sample_latent(z_mean, z_log_variance)

  def call(self, x, training=False):
    z_mean, z_log_variance = self.encode(x, training=training)
    z = kl_lib.sample_latent(z_mean, z_log_variance)
    return self.decode_mean(z)

  def compute_terms(self, x, training=False):
    """Returns a dict with at least `loss`, `distortion`, `rate` (per example),
    `kl_per_dim` [batch, J], `kl_weight`, `beta_eff`, `beta_norm`, and
    `updates`: a list of (variable, new value) applied after a training step."""
    raise NotImplementedError

  # ------------------------------------------------------- Keras plumbing

  @property
  def metrics(self):
    return list(self.trackers.values())

  def _scalars(self, terms):
    """The logged scalars of one batch (global-batch means)."""
    neg_elbo = terms["distortion"] + terms["rate"]
    scalars = {
        "loss": elbo.replica_sum(terms["loss"]),
        "neg_elbo": elbo.global_batch_mean(neg_elbo),
        "bits_per_dim": elbo.global_batch_mean(neg_elbo) /
                        (self.num_features * elbo.LN2),
        "rate": elbo.global_batch_mean(terms["rate"]),
        "distortion": elbo.global_batch_mean(terms["distortion"]),
    }
    for name in self.scalar_names:
      if name not in scalars:
        scalars[name] = tf.cast(terms[name], tf.float32)
    return scalars

  def _record(self, terms):
    scalars = self._scalars(terms)
    for name, value in scalars.items():
      self.trackers[name].update_state(value)
      self.last_batch[name].assign(value)
    return {name: tracker.result() for name, tracker in self.trackers.items()}

  def train_step(self, data):
    x = images_from_batch(data)
    with tf.GradientTape() as tape:
      terms = self.compute_terms(x, training=True)
      loss = terms["loss"]
      scaled_loss = self.optimizer.scale_loss(loss)
    variables = self.trainable_variables
    gradients = tape.gradient(scaled_loss, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    for variable, value in terms.get("updates", ()):
      variable.assign(value)
    return self._record(terms)

  def test_step(self, data):
    x = images_from_batch(data)
    terms = self.compute_terms(x, training=False)
    return self._record(terms)

  @property
  def global_step(self):
    return self.optimizer.iterations
