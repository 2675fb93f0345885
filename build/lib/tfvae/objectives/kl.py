"""KL divergence between the diagonal Gaussian posterior and the standard normal prior.

Closed form (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", eq. 10),
per example i and latent dimension j:

    KL_ij = -1/2 (1 + log sigma_ij^2 - mu_ij^2 - sigma_ij^2)

The Monte Carlo estimate uses one reparameterised sample z ~ q(z|x):

    KL_ij ~= log N(z_ij; mu_ij, sigma_ij^2) - log N(z_ij; 0, 1)

Both return per-dimension values of shape [batch, J] so that callers can reduce
(sum or mean over J), clamp (free bits) or log them per dimension.
"""

import math

import tensorflow as tf

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_kl(mean, log_variance):
  """Analytic KL(N(mean, exp(log_variance)) || N(0, 1)) per dimension."""
  return -0.5 * (1.0 + log_variance - tf.square(mean) - tf.exp(log_variance))


def sample_latent(mean, log_variance, seed=None, stateless_seed=None):
  """Reparameterised sample z = mean + exp(log_variance / 2) * eps.

  With `stateless_seed` (shape [2] integers) eps is a pure function of the seed,
  which makes training steps reproducible after a resume.
  """
  if stateless_seed is not None:
    eps = tf.random.stateless_normal(tf.shape(mean), seed=stateless_seed,
                                     dtype=mean.dtype)
  else:
    eps = tf.random.normal(tf.shape(mean), dtype=mean.dtype, seed=seed)
  return mean + tf.exp(0.5 * log_variance) * eps


def log_normal(z, mean, log_variance):
  """Elementwise log N(z; mean, exp(log_variance))."""
  return -_HALF_LOG_TWO_PI - 0.5 * log_variance - 0.5 * tf.square(
      z - mean) * tf.exp(-log_variance)


def monte_carlo_kl(z, mean, log_variance):
  """Single-sample estimate log q(z|x) - log p(z) per dimension."""
  zeros = tf.zeros_like(z)
  return log_normal(z, mean, log_variance) - log_normal(z, zeros, zeros)
