"""The averaged KL split into index-code MI, total correlation and dimension-wise KL.

With q(z) = E_p(x)[q(z|x)] the aggregate posterior and q(z_j) its marginals,
the rate averaged over the data splits into three non-negative parts (Hoffman &
Johnson 2016, "ELBO surgery"; Chen et al. 2018, "Isolating Sources of
Disentanglement in Variational Autoencoders", eq. 2):

    E_p(x)[KL(q(z|x) || p(z))]
        = I_q(x; z)                         index-code mutual information
        + KL(q(z) || prod_j q(z_j))         total correlation TC
        + sum_j KL(q(z_j) || p(z_j))        dimension-wise KL

With one sample z_i ~ q(z|x_i) for each of a batch of M examples from a data
set of N, every part is the batch mean of a difference of four log densities,

    MI_i     = log q(z_i|x_i)       - log q(z_i)
    TC_i     = log q(z_i)           - log prod_j q(z_ij)
    dimKL_i  = log prod_j q(z_ij)   - log p(z_i),

so the three add up to log q(z_i|x_i) - log p(z_i), the one-sample Monte Carlo
KL of the same samples, exactly (to float rounding), whatever the estimates
of log q(z_i) and log q(z_ij) are, as long as the same ones are used in both
parts that contain them. Those two are the only quantities that need the data
set; they are importance-weighted sums over the batch:

    log q(z_i)   ~ logsumexp_m [log w_im + sum_j log q(z_ij|x_m)]
    log q(z_ij)  ~ logsumexp_m [log w_im + log q(z_ij|x_m)]

with log q(z_ij|x_m) = log N(z_ij; mu_mj, sigma_mj^2) and weights w_im:

- minibatch weighted sampling (MWS, Chen et al. 2018, Sec. 4.1):
  w_im = 1 / (N M) for every pair. The weights of a row sum to 1/N, not 1, so
  log q(z) is biased low by about log M and each log q(z_j) likewise: MI is
  biased up by log M, TC by (J - 1) log M and the dimension-wise KL down by
  J log M (the sum is unaffected). disentanglement_lib's `total_correlation`
  drops the constants altogether (its TC is this one minus (J - 1) log(N M)).
- minibatch stratified sampling (MSS, Chen et al. 2018, App. C.2; the default):
  with M' = M - 1, w_ii = 1/N (the sample's own posterior), one other entry
  per row w_i,(i+1 mod M) = (N - M') / (N M') and w_im = 1/M' for the rest.
  Each row sums to 1. Needs 2 <= M <= N.

The MSS estimate of log q(z_i) is at least log q(z_i|x_i) - log N, so its MI
is at most log N (the entropy of the index), as the true MI is.

Everything is written for diagonal Gaussian posteriors and the standard normal
prior. The functions are pure TensorFlow, in the dtype of `z` (float32 for
training; float64 gives the identity to ~1e-12 for diagnostics).
"""

import tensorflow as tf

from tfvae.objectives import kl as kl_lib

ESTIMATORS = ("mss", "mws")
PARTS = ("index_code_mi", "total_correlation", "dimwise_kl")


def log_density_matrix(z, z_mean, z_log_variance):
  """[M, M, J]: entry (i, m, j) is log N(z_ij; mu_mj, exp(log_var_mj)).

  Row i holds sample z_i under every posterior of the batch; the diagonal
  (m = i) is the sample's own posterior.
  """
  return kl_lib.log_normal(z[:, None, :], z_mean[None, :, :],
                           z_log_variance[None, :, :])


def _check_sizes(batch_size, dataset_size, estimator):
  if estimator not in ESTIMATORS:
    raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got "
                     f"{estimator!r}")
  if (isinstance(dataset_size, bool) or not isinstance(dataset_size, int) or
      dataset_size < 1):
    raise ValueError(f"dataset_size must be an integer >= 1, got "
                     f"{dataset_size!r}")
  if isinstance(batch_size, int):
    if batch_size > dataset_size:
      raise ValueError(f"the batch ({batch_size} examples) is larger than "
                       f"dataset_size={dataset_size}")
    if estimator == "mss" and batch_size < 2:
      raise ValueError("the stratified (mss) estimator needs a batch of at "
                       f"least 2 examples, got {batch_size}")


def log_importance_weights(batch_size, dataset_size, estimator="mss",
                           dtype=tf.float32):
  """[M, M] matrix of log w_im (see the module docstring).

  Args:
    batch_size: M, a Python int or a scalar int tensor (a batch whose size is
      only known when the graph runs).
    dataset_size: N, the number of examples q(z) averages over (int).
    estimator: "mss" (stratified, Chen et al. App. C.2) or "mws" (weighted).
    dtype: the float dtype of the result.
  """
  _check_sizes(batch_size, dataset_size, estimator)
  m = tf.cast(batch_size, dtype)
  n = tf.constant(float(dataset_size), dtype)
  shape = tf.stack([batch_size, batch_size])
  if estimator == "mws":
    return tf.fill(shape, -tf.math.log(n * m))
  m_prime = m - 1.0
  own = tf.eye(batch_size, dtype=tf.bool)
  # One other example per row, (i, i + 1 mod M), stands for the N - M'
  # examples outside the batch (the stratum the batch did not draw).
  stratum = tf.roll(tf.eye(batch_size, dtype=dtype), shift=1, axis=1) > 0
  rest = tf.fill(shape, -tf.math.log(m_prime))
  log_stratum = tf.math.log(n - m_prime) - tf.math.log(n * m_prime)
  weights = tf.where(stratum, log_stratum, rest)
  return tf.where(own, -tf.math.log(n), weights)


def log_densities(z, z_mean, z_log_variance, dataset_size, estimator="mss"):
  """The four per-example log densities of the decomposition, each [M].

  Returns:
    dict with `log_q_z_given_x` (log q(z_i|x_i)), `log_q_z` (log q(z_i)),
    `log_prod_q_zj` (sum_j log q(z_ij)) and `log_p_z` (log p(z_i)), nats.
  """
  z = tf.convert_to_tensor(z)
  z_mean = tf.convert_to_tensor(z_mean, z.dtype)
  z_log_variance = tf.convert_to_tensor(z_log_variance, z.dtype)
  batch_size = z.shape[0] if z.shape[0] is not None else tf.shape(z)[0]
  log_w = log_importance_weights(batch_size, dataset_size, estimator, z.dtype)
  pairs = log_density_matrix(z, z_mean, z_log_variance)  # [M, M, J]
  log_q_z = tf.reduce_logsumexp(log_w + tf.reduce_sum(pairs, axis=2), axis=1)
  log_prod_q_zj = tf.reduce_sum(
      tf.reduce_logsumexp(log_w[:, :, None] + pairs, axis=1), axis=1)
  log_q_z_given_x = tf.reduce_sum(
      kl_lib.log_normal(z, z_mean, z_log_variance), axis=1)
  zeros = tf.zeros_like(z)
  log_p_z = tf.reduce_sum(kl_lib.log_normal(z, zeros, zeros), axis=1)
  return {"log_q_z_given_x": log_q_z_given_x, "log_q_z": log_q_z,
          "log_prod_q_zj": log_prod_q_zj, "log_p_z": log_p_z}


def decompose_per_example(z, z_mean, z_log_variance, dataset_size,
                          estimator="mss"):
  """Per-example MI_i, TC_i and dimKL_i, each [M] (nats).

  Their sum is log q(z_i|x_i) - log p(z_i), the Monte Carlo KL of sample i.
  Each value depends on the whole batch through log q(z_i) and log q(z_ij).

  Args:
    z: [M, J] samples, z_i ~ q(z|x_i).
    z_mean, z_log_variance: [M, J] the posteriors' parameters.
    dataset_size: N, the data set q(z) averages over.
    estimator: "mss" (default) or "mws".
  """
  log = log_densities(z, z_mean, z_log_variance, dataset_size, estimator)
  return {
      "index_code_mi": log["log_q_z_given_x"] - log["log_q_z"],
      "total_correlation": log["log_q_z"] - log["log_prod_q_zj"],
      "dimwise_kl": log["log_prod_q_zj"] - log["log_p_z"],
  }


def decompose(z, z_mean, z_log_variance, dataset_size, estimator="mss"):
  """Batch estimates of index-code MI, total correlation and dimension-wise KL.

  Returns:
    dict of scalars `index_code_mi`, `total_correlation`, `dimwise_kl` (nats,
    batch means of `decompose_per_example`); they add up to the batch mean of
    the samples' Monte Carlo KL.
  """
  parts = decompose_per_example(z, z_mean, z_log_variance, dataset_size,
                                estimator)
  return {name: tf.reduce_mean(value) for name, value in parts.items()}

