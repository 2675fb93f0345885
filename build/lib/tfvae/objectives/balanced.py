"""Per-example forms of every balanced VAE loss, and their effective beta.

Each function returns `(per_example_loss, kl_coefficient, nll_coefficient)`:
the batch average of `per_example_loss` (see `elbo.average_over_batch`) is the
loss of the method, with the same value *and* gradient as its batch-level
formula, and `kl_coefficient / nll_coefficient` is the method's effective beta in
ELBO units (weight on summed KL per unit of summed NLL) at this step.

Writing batch-level objectives per example keeps them correct when tf.distribute
splits the batch across replicas.

- Constant or scheduled weight w: loss = rec + w kl.
- Capacity (Burgess et al. 2018, "Understanding disentangling in beta-VAE"):
  loss = rec + gamma |E[R] - C|. Per example:
  gamma * sign(E[R] - C) * (R_i - C), whose mean equals gamma |E[R] - C| and
  has the same gradient (sign is piecewise constant).
- GECO (Rezende & Viola 2018, "Taming VAEs"): loss = KL + lambda * C_hat with
  C_hat = C_batch + stop_gradient(C_ma - C_batch); per example
  kl_i + lambda (c_i + stop_gradient(C_ma - C_batch)).
- ControlVAE (Shao et al. 2020): rec + beta(t) kl with beta from a PI controller.
"""

import tensorflow as tf


def weighted_loss(rec, kl, kl_weight, rec_divisor, kl_divisor):
  """loss_i = rec_i + w * kl_i with reduced terms rec = D / K_r, kl = R / J_r."""
  return rec + kl_weight * kl, kl_weight / kl_divisor, 1.0 / rec_divisor


def capacity_loss(rec, rate, batch_rate, capacity, gamma, rec_divisor):
  """Burgess et al.'s capacity objective on the summed KL (nats).

  Args:
    rec: reduced reconstruction term per example.
    rate: summed KL per example (nats).
    batch_rate: the batch mean of `rate` (global under tf.distribute).
    capacity: C(step) in nats.
    gamma: the constraint's weight.
    rec_divisor: K_r of the reconstruction reduction.
  """
  sign = tf.stop_gradient(tf.sign(batch_rate - capacity))
  per_example = rec + gamma * sign * (rate - capacity)
  return per_example, gamma * sign, 1.0 / rec_divisor


def geco_loss(kl, constraint, constraint_correction, lagrange, kl_divisor,
              constraint_nll_divisor):
  """GECO per example: kl_i + lambda * (c_i + stop_gradient(C_ma - C_batch)).

  Args:
    kl: reduced KL per example.
    constraint: c_i = rec_err_i - kappa per example.
    constraint_correction: stop_gradient(C_ma - C_batch), a scalar.
    lagrange: the multiplier lambda (no gradient).
    kl_divisor: J_r of the KL reduction.
    constraint_nll_divisor: K for per-pixel constraints, 1 for per-example.
  """
  lagrange = tf.stop_gradient(lagrange)
  per_example = kl + lagrange * (constraint + constraint_correction)
  return per_example, 1.0 / kl_divisor, lagrange / constraint_nll_divisor
