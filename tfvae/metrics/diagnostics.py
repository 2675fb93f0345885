"""Diagnostics of a trained VAE on a data set: the true quantities, whatever the weighting.

- Rate R = E_x[KL(q(z|x) || p(z))] and distortion D = E_x E_q[-log p(x|z)], nats
  (Alemi et al. 2018, "Fixing a Broken ELBO"); -ELBO = D + R, bits/dim =
  -ELBO / (K ln 2). Averages are exact per-example means over the whole set.
- Per-dimension KL: E_x[KL_j].
- Active units (Burda et al. 2016, IWAE paper): unit u is active when
  Var_x(E_q[z_u | x]) > 0.01.
- Posterior collapse (Lucas et al. 2019): dimension j with E_x[KL_j] below
  `collapse_threshold` nats.
- Importance-weighted log-likelihood (Burda et al. 2016):
  log p(x) ~= logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k,
  z_i ~ q(z|x). It is a lower bound that tightens with k and equals the ELBO
  in expectation at k = 1.
- Mutual information I(x; z) (He et al. 2019, "Lagging inference networks"):
  E_x E_q[log q(z|x)] - E_q(z)[log q(z)], with log q(z) estimated by
  logsumexp over the batch minus log B. Bounded by log B.
"""

import math

import numpy as np
import tensorflow as tf

from tfvae.objectives import kl as kl_lib

ACTIVE_UNIT_THRESHOLD = 0.01
COLLAPSE_THRESHOLD = 0.01
_LOG_2PI = math.log(2.0 * math.pi)


def log_importance_weights(model, x, num_samples, seed=None):
  """[num_samples, batch] of log p(x, z_i) - log q(z_i | x)."""
  z_mean, z_log_variance = model.encode(x)
  batch = tf.shape(x)[0]
  eps = tf.random.normal(tf.concat([[num_samples], tf.shape(z_mean)], 0),
                         seed=seed)
  z = z_mean[None] + tf.exp(0.5 * z_log_variance)[None] * eps
  flat_z = tf.reshape(z, [-1, model.latent_dim])
  tiled_x = tf.reshape(
      tf.tile(x[None], tf.concat([[num_samples], tf.ones_like(tf.shape(x))], 0)),
      tf.concat([[-1], tf.shape(x)[1:]], 0))
  log_px_z = tf.reshape(model.log_likelihood(tiled_x, flat_z),
                        [num_samples, batch])
  log_pz = tf.reduce_sum(kl_lib.log_normal(z, 0.0, 0.0), axis=-1)
  log_qz = tf.reduce_sum(
      kl_lib.log_normal(z, z_mean[None], z_log_variance[None]), axis=-1)
  return log_px_z + log_pz - log_qz


def iwae_log_likelihood(model, x, num_samples, chunk=100, seed=None):
  """Per-example importance-weighted estimate of log p(x), nats."""
  pieces = []
  remaining = num_samples
  while remaining > 0:
    k = min(chunk, remaining)
    pieces.append(log_importance_weights(model, x, k, seed=seed))
    remaining -= k
  log_w = tf.concat(pieces, axis=0)
  return tf.reduce_logsumexp(log_w, axis=0) - math.log(num_samples)


def mutual_information(z_mean, z_log_variance, seed=None):
  """He et al. (2019)'s batch estimate of I(x; z), nats."""
  z_mean = tf.convert_to_tensor(z_mean, tf.float32)
  z_log_variance = tf.convert_to_tensor(z_log_variance, tf.float32)
  batch = tf.cast(tf.shape(z_mean)[0], tf.float32)
  j = tf.cast(tf.shape(z_mean)[1], tf.float32)
  # E_q[log q(z|x)] = -J/2 log 2 pi - 1/2 sum_j (1 + log var_j).
  neg_entropy = tf.reduce_mean(
      -0.5 * j * _LOG_2PI - 0.5 * tf.reduce_sum(1.0 + z_log_variance, axis=-1))
  z = kl_lib.sample_latent(z_mean, z_log_variance, seed=seed)
  # log q(z_i | x_j) for all pairs: [B (samples), B (posteriors)].
  log_density = tf.reduce_sum(
      kl_lib.log_normal(z[:, None, :], z_mean[None], z_log_variance[None]),
      axis=-1)
  log_qz = tf.reduce_logsumexp(log_density, axis=1) - tf.math.log(batch)
  return float(neg_entropy - tf.reduce_mean(log_qz))


def active_units(z_means, threshold=ACTIVE_UNIT_THRESHOLD):
  """(count, per-unit variance of the posterior means over the data)."""
  variances = np.var(np.asarray(z_means, np.float64), axis=0)
  return int(np.sum(variances > threshold)), variances


def evaluate(model, dataset, iw_samples=0, mi_batch_size=None,
             collapse_threshold=COLLAPSE_THRESHOLD, seed=None):
  """Exact data-set averages of every diagnostic.

  Args:
    model: a tfvae model (`compute_terms`, `encode`, `log_likelihood`).
    dataset: finite tf.data of float image batches.
    iw_samples: k for the importance-weighted log-likelihood (0 skips it).
    mi_batch_size: batch for the MI estimate (the data set's batches if None).
    collapse_threshold: nats below which a dimension counts as collapsed.
    seed: seed for the posterior samples.

  Returns:
    dict of floats/lists; see the module doc for definitions.
  """
  if seed is not None:
    tf.random.set_seed(seed)
  sums = {"neg_elbo": 0.0, "rate": 0.0, "distortion": 0.0, "loss": 0.0}
  kl_sum = None
  means, log_vars, iwae = [], [], []
  count = 0
  for x in dataset:
    terms = model.compute_terms(x, training=False)
    b = int(x.shape[0])
    count += b
    sums["rate"] += float(tf.reduce_sum(terms["rate"]))
    sums["distortion"] += float(tf.reduce_sum(terms["distortion"]))
    sums["loss"] += float(terms["loss"]) * b
    per_dim = tf.reduce_sum(terms["kl_per_dim"], axis=0).numpy()
    kl_sum = per_dim if kl_sum is None else kl_sum + per_dim
    means.append(terms["z_mean"].numpy())
    log_vars.append(terms["z_log_variance"].numpy())
    if iw_samples:
      iwae.append(iwae_log_likelihood(model, x, iw_samples).numpy())
  if count == 0:
    raise ValueError("evaluate() got an empty data set")
  result = {k: v / count for k, v in sums.items()}
  result["neg_elbo"] = result["rate"] + result["distortion"]
  result["bits_per_dim"] = result["neg_elbo"] / (model.num_features *
                                                 math.log(2.0))
  kl_per_dim = kl_sum / count
  z_means = np.concatenate(means)
  z_log_vars = np.concatenate(log_vars)
  num_active, variances = active_units(z_means)
  result.update({
      "num_examples": count,
      "kl_per_dim": [float(v) for v in kl_per_dim],
      "active_units": num_active,
      "latent_dim": int(model.latent_dim),
      "z_mean_variance": [float(v) for v in variances],
      "collapsed_dims": [int(j) for j in np.where(
          kl_per_dim < collapse_threshold)[0]],
  })
  mi_batch = mi_batch_size or min(count, 512)
  mis = []
  for start in range(0, count - mi_batch + 1, mi_batch):
    mis.append(mutual_information(z_means[start:start + mi_batch],
                                  z_log_vars[start:start + mi_batch]))
  result["mutual_information"] = float(np.mean(mis)) if mis else float("nan")
  result["mutual_information_batch"] = int(mi_batch)
  if iw_samples:
    nll = -np.concatenate(iwae)
    result["iwae_nll"] = float(np.mean(nll))
    result["iwae_bits_per_dim"] = result["iwae_nll"] / (
        model.num_features * math.log(2.0))
    result["iw_samples"] = int(iw_samples)
  return result, z_means, z_log_vars
