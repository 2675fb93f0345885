"""The general VAE objective: ELBO terms, reductions and the KL weight in every convention.

Per example i with K input features and J latent dimensions (Kingma & Welling 2014;
rate/distortion naming from Alemi et al. 2018, "Fixing a Broken ELBO"):

    D_i     = sum_k -log p(x_ik | z_i)          distortion, nats
    R_i     = sum_j KL_ij                       rate, nats
    -ELBO_i = D_i + R_i                         bits/dim = -ELBO_i / (K ln 2)

What is optimised is a weighted, possibly *reduced* version of these:

    loss = mean_i [ rec_i + w * kl_i ],  rec_i = D_i / K_r,  kl_i = R_i / J_r

with K_r = K for `rec_reduction="mean"` (else 1) and J_r = J for
`kl_reduction="mean"` (else 1). Dividing by K_r turns the loss into
(1/K_r) [D + w (K_r / J_r) R], so every convention is the ELBO with an
*effective* beta in ELBO units (weight on summed KL per unit of summed NLL):

    beta_eff  = w * K_r / J_r
    beta_norm = beta_eff * J / K          (Higgins et al. 2017, beta-VAE, App. A.6)

In particular the question's "mean/mean with weight 0.1" is beta_norm = 0.1.
"""

import math

import tensorflow as tf

LN2 = math.log(2.0)


def reduce_features(values, reduction):
  """Sums or averages all non-batch axes: [batch, ...] -> [batch]."""
  axes = tf.range(1, tf.rank(values))
  if reduction == "sum":
    return tf.reduce_sum(values, axis=axes)
  if reduction == "mean":
    return tf.reduce_mean(values, axis=axes)
  raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def effective_beta(kl_coefficient, nll_coefficient):
  """Weight on summed KL per unit of summed NLL: the ELBO-units beta."""
  return kl_coefficient / nll_coefficient


def beta_to_beta_norm(beta_eff, num_features, latent_dim):
  """beta_norm = beta_eff * J / K (Higgins et al. 2017)."""
  return beta_eff * latent_dim / num_features


def neg_elbo(distortion, rate):
  """-ELBO = D + R in nats (Alemi et al. 2018): the distortion
  -E_q[log p(x|z)] plus the rate KL(q(z|x) || p(z))."""
  return distortion + rate


def bits_per_dim(neg_elbo, num_features):
  """-ELBO in nats per example -> bits per feature: -ELBO / (K ln 2)."""
  return neg_elbo / (num_features * LN2)


def elbo_terms(nll, kl_per_dim):
  """Per-example distortion, rate and -ELBO in nats from elementwise terms.

  Args:
    nll: elementwise -log p(x|z), [batch, H, W, C] (any feature shape).
    kl_per_dim: [batch, J] KL per latent dimension.

  Returns:
    dict of [batch] tensors: distortion, rate, neg_elbo, and bits_per_dim.
  """
  num_features = tf.cast(tf.reduce_prod(tf.shape(nll)[1:]), nll.dtype)
  distortion = reduce_features(nll, "sum")
  rate = tf.reduce_sum(kl_per_dim, axis=1)
  total = neg_elbo(distortion, rate)
  return {
      "distortion": distortion,
      "rate": rate,
      "neg_elbo": total,
      "bits_per_dim": bits_per_dim(total, num_features),
  }


def average_over_batch(per_example):
  """Batch mean that is correct under tf.distribute.

  Divides the replica-local sum by the global batch size, so N replicas give the
  same update as one device with the same global batch (gradients are summed
  across replicas). Equals `reduce_mean` on a single device.
  """
  return tf.nn.compute_average_loss(per_example)


def global_batch_mean(values, axis=None):
  """Mean over the *global* batch, also inside a tf.distribute replica.

  Controllers and logged numbers must see the whole batch, not one replica's
  shard; on a single device this is `reduce_mean`. `axis=None` averages every
  element; `axis=0` averages over examples only, one mean per column. The
  all-reduce passes gradients, so the result may be differentiated.
  """
  if axis is None:
    values = tf.reshape(values, [-1])
  elif axis != 0:
    raise ValueError(f"axis must be None or 0, got {axis!r}")
  total = tf.reduce_sum(values, axis=0)
  count = tf.cast(tf.shape(values)[0], values.dtype)
  context = tf.distribute.get_replica_context()
  if context is not None and context.num_replicas_in_sync > 1:
    total, count = context.all_reduce("sum", [total, count])
  return total / count


def replica_sum(value):
  """Sum of a per-replica scalar over replicas (identity on one device)."""
  context = tf.distribute.get_replica_context()
  if context is not None and context.num_replicas_in_sync > 1:
    return context.all_reduce("sum", value)
  return value


def num_replicas():
  context = tf.distribute.get_replica_context()
  return context.num_replicas_in_sync if context is not None else 1
