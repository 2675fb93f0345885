"""The question's VAE, ported line for line (see `tfvae.objectives.reference`).

`ReferenceVAE` optimises exactly the question's loss: closed-form KL summed over
latent dimensions plus summed L2 or clipped BCE on decoder probabilities
y = sigmoid(decoder output), averaged over the batch. It reports the same true
quantities as every tfvae model: for L2 the distortion is the NLL of a Gaussian
with sigma^2 = 1/2 (SSE + (K/2) log pi), so its effective beta is exactly 1; for
BCE it is the Bernoulli NLL, again beta 1.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.models.base import BaseVAE
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib
from tfvae.objectives import reference


@keras.saving.register_keras_serializable(package="tfvae",
                                         name="ReferenceVAE")
class ReferenceVAE(BaseVAE):
  """Custom `train_step` around the question's `loss`."""

  def __init__(self, encoder, decoder, rec="l2", seed=0, **kwargs):
    if rec not in reference.RECS:
      raise ValueError(f"rec must be one of {', '.join(reference.RECS)}, got "
                       f"{rec!r}")
    kwargs.setdefault("name", "reference_vae")
    super().__init__(encoder, decoder, seed=seed, **kwargs)
    self.rec = rec

  def get_config(self):
    config = super().get_config()
    config.update(rec=self.rec)
    return config

  def decode_mean(self, z):
    return tf.sigmoid(self.decode_params(z))

  def draw(self, z, seed=None):
    """x ~ the port's implied likelihood: Bernoulli(y) for BCE, a Gaussian
    with sigma^2 = 1/2 around y for L2."""
    y = self.decode_mean(z)
    if self.rec == "bce":
      dist = tfp.distributions.Bernoulli(probs=y, dtype=tf.float32)
    else:
      dist = tfp.distributions.Normal(y, np.sqrt(0.5).astype(np.float32))
    return dist.sample(seed=seed)

  def decode_distribution_params(self, z):
    """For serving: the mean is the only parameter of the port's decoder."""
    return {"mean": self.decode_mean(z)}

  def log_likelihood(self, x, z):
    """log p(x|z) per example (nats) under the port's implied likelihood."""
    x = tf.cast(x, tf.float32)
    y = self.decode_mean(z)
    zeros = tf.zeros(tf.shape(z))
    _, _, rec_loss = reference.question_loss(x, y, zeros, zeros, rec=self.rec)
    return -reference.question_distortion(rec_loss, self.num_features, self.rec)

  def compute_terms(self, x, training=False):
    x = tf.cast(x, tf.float32)
    self.ensure_built(x)
    mu, log_sigma_sq = self.encode(x, training=training)
    z = self.sample_posterior(mu, log_sigma_sq, training)
    y = tf.sigmoid(self.decode_params(z, training=training))
    _, kl_loss, rec_loss = reference.question_loss(x, y, mu, log_sigma_sq,
                                                   rec=self.rec)
    # Same value as the question's reduce_mean on one device, and the correct
    # global-batch scaling under tf.distribute.
    loss = elbo.average_over_batch(kl_loss + rec_loss)
    one = tf.constant(1.0)
    num_features = int(np.prod(x.shape[1:]))
    return {
        "loss": loss,
        "distortion": reference.question_distortion(
            rec_loss, num_features, self.rec),
        "rate": kl_loss,
        "kl_per_dim": kl_lib.gaussian_kl(mu, log_sigma_sq),
        "kl_weight": one,
        "beta_eff": one,
        "beta_norm": elbo.beta_to_beta_norm(one, num_features,
                                            int(mu.shape[-1])),
        "z_mean": mu,
        "z_log_variance": log_sigma_sq,
    }
