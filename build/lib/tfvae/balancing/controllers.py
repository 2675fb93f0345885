"""Feedback controllers that set the KL/reconstruction balance during training.

Both controllers are pure state-in/state-out TensorFlow functions, usable inside
a `tf.function` train step; the caller keeps the state in non-trainable
variables (and checkpoints it). They react to the current batch's values and
never pass gradients into their state.

GECO (Rezende & Viola 2018, "Taming VAEs", Algorithm 1): minimise the KL
subject to E[C] <= 0 with C = rec_err - kappa, via the Lagrangian
KL + lambda C. Per step, with C_t the batch constraint:

    C_ma   <- C_t                                 (first batch)
    C_ma   <- alpha C_ma + (1 - alpha) C_t        (afterwards; alpha = 0.99)
    C_hat   = C_t + stop_gradient(C_ma - C_t)     (value C_ma, gradient of C_t)
    loss    = KL + lambda C_hat
    lambda <- clip(lambda exp(nu C_ma), lambda_min, lambda_max)

lambda rises while the constraint is violated (C_ma > 0) and falls while it
is satisfied. Equivalently beta = 1 / lambda weighs the KL against the
reconstruction error. The functions are unit-agnostic: kappa has the units of
the reconstruction error the caller passes (tfvae passes the per-example
summed NLL or the per-pixel mean, as its `geco_target_units` flag says).

ControlVAE (Shao et al. 2020, "ControlVAE: Controllable Variational
Autoencoder", ICML, Algorithm 1): a PI controller on the batch KL,

    e(t)    = KL_target - KL(t)
    P(t)    = Kp / (1 + exp(e(t))) = Kp sigmoid(-e(t))
    I(t)    = I(t-1) - Ki e(t)         (only when not winding up, see below)
    beta(t) = clip(P(t) + I(t) + beta_min, beta_min, beta_max)

Anti-windup. The paper integrates only while beta_min <= beta(t-1) <=
beta_max, but it (and the reference code) tests the clipped beta, which is
always in range, so the integrator never stops. Testing the unclipped output
u(t-1) = P(t-1) + I(t-1) + beta_min instead, but freezing in both
directions, can latch: once I(t-1) + beta_min > beta_max (or I(t-1) < -Kp)
no P in (0, Kp) ever brings u back into range and beta stays saturated
forever. The rule here is conditional integration: the integrator takes its
step unless u(t-1) is saturated and the step would push u further out, i.e.
it is frozen when u(t-1) > beta_max and -Ki e(t) > 0, or when
u(t-1) < beta_min and -Ki e(t) < 0. It stops accumulating while saturated,
and unwinds at once when the error changes sign.
"""

import math
import numbers
from typing import NamedTuple, Tuple

import tensorflow as tf

from tfvae.errors import ConfigError

# --------------------------------------------------------------------- checks


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_range(name, value, low=-math.inf, high=math.inf, low_open=False,
                 high_open=False) -> None:
  """Checks a Python number against an interval; tensors are left alone."""
  if not _is_number(value):
    return
  too_low = value <= low if low_open else value < low
  too_high = value >= high if high_open else value > high
  if math.isnan(value) or too_low or too_high:
    interval = (("(" if low_open else "[") + f"{low}, {high}" +
                (")" if high_open else "]"))
    raise ConfigError(f"{name} must be in {interval}, got {value!r}.")


def _check_order(low_name, low, high_name, high) -> None:
  if _is_number(low) and _is_number(high) and low > high:
    raise ConfigError(f"{low_name} ({low!r}) must not exceed {high_name} "
                      f"({high!r}).")


def _float_dtype(value) -> tf.DType:
  dtype = tf.convert_to_tensor(value).dtype
  return dtype if dtype.is_floating else tf.float32


# ----------------------------------------------------------------------- GECO


class GecoState(NamedTuple):
  """GECO's state: moving-average constraint, multiplier, first-batch flag."""
  c_ma: tf.Tensor
  lagrange: tf.Tensor
  initialized: tf.Tensor


def geco_initial_state(lagrange_init=1.0) -> GecoState:
  """The state before the first batch (the paper starts lambda at 1)."""
  _check_range("lagrange_init", lagrange_init, low=0.0, low_open=True)
  return GecoState(
      c_ma=tf.constant(0.0),
      lagrange=tf.constant(lagrange_init, tf.float32),
      initialized=tf.constant(False))


def geco_update(constraint_batch,
                c_ma,
                lagrange,
                initialized,
                alpha,
                rate,
                lagrange_min=1e-10,
                lagrange_max=1e10) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """One GECO step (Rezende & Viola 2018, Algorithm 1).

  Use the `lagrange` passed in for this step's loss, `geco_loss(kl,
  constraint_hat, lagrange)`, and store `new_lagrange` for the next step:
  Algorithm 1 updates lambda after the parameter update.

  Args:
    constraint_batch: Scalar C_t = rec_err_batch - kappa, in the units of the
      reconstruction error the caller chose; may carry gradients.
    c_ma: Previous moving average of the constraint (ignored on the first
      batch).
    lagrange: Current multiplier lambda > 0.
    initialized: False on the first batch, then True (the caller stores it).
    alpha: Moving-average decay in [0, 1) (the paper: 0.99).
    rate: nu > 0, the multiplier's update speed.
    lagrange_min: Lower clamp for lambda (> 0).
    lagrange_max: Upper clamp for lambda.

  Returns:
    (constraint_hat, new_c_ma, new_lagrange): constraint_hat has the value of
    new_c_ma and the gradient of `constraint_batch`; new_c_ma and
    new_lagrange carry no gradient.

  Raises:
    ConfigError: A Python-number argument is out of range.
  """
  _check_range("alpha", alpha, 0.0, 1.0, high_open=True)
  _check_range("rate", rate, low=0.0, low_open=True)
  _check_range("lagrange_min", lagrange_min, low=0.0, low_open=True)
  _check_order("lagrange_min", lagrange_min, "lagrange_max", lagrange_max)
  constraint_batch = tf.convert_to_tensor(constraint_batch)
  dtype = _float_dtype(constraint_batch)
  constraint_batch = tf.cast(constraint_batch, dtype)
  batch_value = tf.stop_gradient(constraint_batch)
  c_ma = tf.stop_gradient(tf.cast(c_ma, dtype))
  alpha = tf.cast(alpha, dtype)
  new_c_ma = tf.where(
      tf.cast(initialized, tf.bool),
      alpha * c_ma + (1.0 - alpha) * batch_value, batch_value)
  constraint_hat = constraint_batch + tf.stop_gradient(new_c_ma -
                                                       constraint_batch)
  # The update in log space cannot overflow: exp(nu C_ma) may be inf.
  low = tf.cast(lagrange_min, dtype)
  high = tf.cast(lagrange_max, dtype)
  log_lagrange = tf.math.log(tf.stop_gradient(tf.cast(lagrange, dtype)))
  log_new = tf.clip_by_value(log_lagrange + tf.cast(rate, dtype) * new_c_ma,
                             tf.math.log(low), tf.math.log(high))
  new_lagrange = tf.clip_by_value(tf.exp(log_new), low, high)
  return constraint_hat, new_c_ma, new_lagrange


def geco_loss(kl, constraint_hat, lagrange) -> tf.Tensor:
  """The GECO Lagrangian KL + lambda C_hat; lambda gets no gradient."""
  kl = tf.convert_to_tensor(kl)
  lagrange = tf.stop_gradient(tf.cast(lagrange, kl.dtype))
  return kl + lagrange * tf.cast(constraint_hat, kl.dtype)


# ------------------------------------------------------------------ ControlVAE


class ControlVAEState(NamedTuple):
  """ControlVAE's state: the integral term and the last unclipped beta."""
  integral: tf.Tensor
  unclipped_beta: tf.Tensor


def controlvae_initial_state(beta_min=0.0) -> ControlVAEState:
  """The state before the first batch: I(0) = 0, u(0) = beta_min (in range)."""
  return ControlVAEState(
      integral=tf.constant(0.0),
      unclipped_beta=tf.constant(beta_min, tf.float32))


def controlvae_update(kl_batch,
                      kl_target,
                      integral,
                      beta_prev,
                      kp=0.01,
                      ki=0.0001,
                      beta_min=0.0,
                      beta_max=1.0) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """One ControlVAE PI step (Shao et al. 2020, Algorithm 1, anti-windup fixed).

  Args:
    kl_batch: The current batch's KL (scalar, nats; gradients are stopped).
    kl_target: The desired KL, in the same units.
    integral: I(t-1).
    beta_prev: The previous UNCLIPPED output u(t-1) (the third value this
      function returned last step; `controlvae_initial_state` gives the
      first one). Used only for the anti-windup rule in the module docstring.
    kp: Proportional gain Kp >= 0.
    ki: Integral gain Ki >= 0 (paper sign: I <- I - Ki e).
    beta_min: Lower bound of beta (1 for disentangling).
    beta_max: Upper bound of beta.

  Returns:
    (beta, new_integral, unclipped_beta): beta = clip(u, beta_min, beta_max)
    for this step's loss, I(t), and u(t) = P(t) + I(t) + beta_min to pass as
    `beta_prev` next step.

  Raises:
    ConfigError: A Python-number argument is out of range.
  """
  _check_range("kp", kp, low=0.0)
  _check_range("ki", ki, low=0.0)
  _check_order("beta_min", beta_min, "beta_max", beta_max)
  kl_batch = tf.convert_to_tensor(kl_batch)
  dtype = _float_dtype(kl_batch)
  kl = tf.stop_gradient(tf.cast(kl_batch, dtype))
  integral = tf.stop_gradient(tf.cast(integral, dtype))
  beta_prev = tf.stop_gradient(tf.cast(beta_prev, dtype))
  beta_min = tf.cast(beta_min, dtype)
  beta_max = tf.cast(beta_max, dtype)
  error = tf.cast(kl_target, dtype) - kl
  # Kp / (1 + exp(e)) without overflow for large |e|.
  proportional = tf.cast(kp, dtype) * tf.math.sigmoid(-error)
  integral_step = -tf.cast(ki, dtype) * error
  winds_up = tf.logical_or(
      tf.logical_and(beta_prev > beta_max, integral_step > 0),
      tf.logical_and(beta_prev < beta_min, integral_step < 0))
  new_integral = tf.where(winds_up, integral, integral + integral_step)
  unclipped_beta = proportional + new_integral + beta_min
  beta = tf.clip_by_value(unclipped_beta, beta_min, beta_max)
  return beta, new_integral, unclipped_beta
