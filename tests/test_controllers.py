"""Tests of the GECO and ControlVAE controllers."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfvae.balancing import controllers
from tfvae.errors import ConfigError

# ----------------------------------------------------------------------- GECO


def _floats(*tensors):
  return [float(t.numpy()) for t in tensors]


def test_geco_first_batch_initialises_moving_average():
  _, c_ma, _ = controllers.geco_update(
      3.0, c_ma=-100.0, lagrange=1.0, initialized=False, alpha=0.99,
      rate=0.01)
  assert float(c_ma) == pytest.approx(3.0)


def test_geco_moving_average_and_multiplier_formula():
  hat, c_ma, lagrange = controllers.geco_update(
      3.0, c_ma=-1.0, lagrange=2.0, initialized=True, alpha=0.9, rate=0.1)
  expected_c_ma = 0.9 * -1.0 + 0.1 * 3.0
  assert _floats(hat, c_ma, lagrange) == pytest.approx(
      [expected_c_ma, expected_c_ma, 2.0 * math.exp(0.1 * expected_c_ma)],
      rel=1e-5)


def test_geco_multiplier_rises_when_violated_and_falls_when_satisfied():
  state = controllers.geco_initial_state()
  history = []
  # Reconstruction error 5 above kappa, then 5 below it.
  for constraint in [5.0] * 50 + [-5.0] * 400:
    _, c_ma, lagrange = controllers.geco_update(
        constraint, state.c_ma, state.lagrange, state.initialized,
        alpha=0.9, rate=0.01)
    state = controllers.GecoState(c_ma, lagrange, tf.constant(True))
    history.append(float(lagrange))
  history = np.array(history)
  assert np.all(np.diff(history[:50]) > 0)
  # After the switch the moving average crosses zero, then lambda falls.
  assert history[-1] < history[49]
  assert np.all(np.diff(history[100:]) < 0)


def test_geco_multiplier_stays_within_bounds_without_overflow():
  for constraint, expected in ((1e30, 1e3), (-1e30, 1e-3)):
    _, _, lagrange = controllers.geco_update(
        constraint, 0.0, 1.0, True, alpha=0.0, rate=1.0, lagrange_min=1e-3,
        lagrange_max=1e3)
    assert float(lagrange) == pytest.approx(expected, rel=1e-6)
  # The defaults [1e-10, 1e10] hold under repeated extreme updates.
  lagrange = tf.constant(1.0)
  for constraint in (1e4, 1e4, -1e4, -1e4):
    _, _, lagrange = controllers.geco_update(
        constraint, 0.0, lagrange, True, alpha=0.0, rate=1.0)
    assert np.isfinite(float(lagrange))
    assert 1e-10 <= float(lagrange) <= 1e10


def test_geco_constraint_hat_has_moving_average_value_and_batch_gradient():
  theta = tf.Variable(2.0)
  with tf.GradientTape(persistent=True) as tape:
    constraint = theta**2 - 1.0  # value 3, gradient 2 theta = 4
    hat, c_ma, lagrange = controllers.geco_update(
        constraint, c_ma=10.0, lagrange=1.5, initialized=True, alpha=0.5,
        rate=0.1)
    loss = controllers.geco_loss(kl=theta, constraint_hat=hat,
                                 lagrange=1.5)
  assert float(hat) == pytest.approx(float(c_ma)) == pytest.approx(6.5)
  assert float(tape.gradient(hat, theta)) == pytest.approx(4.0)
  assert tape.gradient(c_ma, theta) is None
  assert tape.gradient(lagrange, theta) is None
  # d/dtheta (KL + lambda C_hat) = 1 + 1.5 * 4.
  assert float(tape.gradient(loss, theta)) == pytest.approx(7.0)


def test_geco_loss_stops_gradient_into_multiplier():
  lagrange = tf.Variable(2.0)
  with tf.GradientTape() as tape:
    loss = controllers.geco_loss(1.0, tf.constant(3.0), lagrange)
  assert float(loss) == pytest.approx(7.0)
  assert tape.gradient(loss, lagrange) is None


def test_geco_runs_in_tf_function_with_variables():
  c_ma = tf.Variable(0.0, trainable=False)
  lagrange = tf.Variable(1.0, trainable=False)
  initialized = tf.Variable(False, trainable=False)

  @tf.function
  def train_step(constraint):
    hat, new_c_ma, new_lagrange = controllers.geco_update(
        constraint, c_ma, lagrange, initialized, alpha=0.99, rate=0.01)
    c_ma.assign(new_c_ma)
    lagrange.assign(new_lagrange)
    initialized.assign(True)
    return hat

  train_step(tf.constant(2.0))
  train_step(tf.constant(4.0))
  assert float(c_ma.numpy()) == pytest.approx(0.99 * 2.0 + 0.01 * 4.0)
  assert float(lagrange.numpy()) == pytest.approx(
      math.exp(0.01 * 2.0) * math.exp(0.01 * float(c_ma.numpy())), rel=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(alpha=1.0, rate=0.01),
    dict(alpha=-0.1, rate=0.01),
    dict(alpha=0.99, rate=0.0),
    dict(alpha=0.99, rate=0.01, lagrange_min=0.0),
    dict(alpha=0.99, rate=0.01, lagrange_min=10.0, lagrange_max=1.0),
])
def test_geco_bad_arguments_raise(kwargs):
  with pytest.raises(ConfigError):
    controllers.geco_update(1.0, 0.0, 1.0, True, **kwargs)


# ------------------------------------------------------------------ ControlVAE


def test_controlvae_single_step_formula():
  kl, target, integral, kp, ki = 12.0, 10.0, 0.3, 0.01, 0.0001
  beta, new_integral, unclipped = controllers.controlvae_update(
      kl, target, integral, 0.5, kp=kp, ki=ki, beta_min=0.0, beta_max=1.0)
  error = target - kl
  expected_integral = integral - ki * error
  expected = kp / (1.0 + math.exp(error)) + expected_integral
  assert _floats(beta, new_integral, unclipped) == pytest.approx(
      [expected, expected_integral, expected], rel=1e-6)


def test_controlvae_clips_beta_and_survives_huge_errors():
  for kl in (1e30, -1e30, 1e6, 0.0):
    beta, integral, unclipped = controllers.controlvae_update(
        kl, 10.0, 0.0, 0.5, beta_min=1.0, beta_max=4.0)
    values = _floats(beta, integral, unclipped)
    assert all(np.isfinite(values))
    assert 1.0 <= values[0] <= 4.0


@pytest.mark.parametrize("kl,beta_prev,integrates", [
    (20.0, 0.5, True),  # in range: always integrates
    (0.0, 0.5, True),
    (20.0, 1.2, False),  # above beta_max, error pushes beta further up
    (0.0, 1.2, True),  # above beta_max, error pulls beta down: unwinds
    (0.0, -0.2, False),  # below beta_min, error pushes beta further down
    (20.0, -0.2, True),  # below beta_min, error pulls beta up: unwinds
])
def test_controlvae_anti_windup_rule(kl, beta_prev, integrates):
  _, new_integral, _ = controllers.controlvae_update(
      kl, 10.0, 0.5, beta_prev, ki=0.01, beta_min=0.0, beta_max=1.0)
  expected = 0.5 - 0.01 * (10.0 - kl) if integrates else 0.5
  assert float(new_integral) == pytest.approx(expected)


def _kl_at_equilibrium(beta):
  """A plant whose KL falls as beta rises: 30 nats at 0, 1.43 at 1."""
  return 30.0 / (1.0 + 20.0 * beta)


def _simulate(targets, update, seed=0, lag=0.05, noise=0.5):
  """Closed loop: first-order KL dynamics, noisy batch KL, PI controller."""
  rng = np.random.default_rng(seed)
  kl_true, integral, unclipped, beta = 30.0, 0.0, 0.0, 0.0
  kls, betas, integrals = [], [], []
  for target in targets:
    kl_true += lag * (_kl_at_equilibrium(beta) - kl_true)
    kl_batch = kl_true + noise * rng.normal()
    beta, integral, unclipped = update(
        tf.constant(kl_batch, tf.float32), tf.constant(target, tf.float32),
        tf.constant(integral, tf.float32), tf.constant(unclipped, tf.float32))
    beta, integral, unclipped = (float(beta), float(integral),
                                 float(unclipped))
    kls.append(kl_true)
    betas.append(beta)
    integrals.append(integral)
  return np.array(kls), np.array(betas), np.array(integrals)


_controlvae_step = tf.function(controllers.controlvae_update)

# Ten times the paper's Ki so that saturating and recovering take few steps.
_FAST_KI = 0.001


@tf.function
def _fast_controlvae_step(kl, target, integral, unclipped_prev):
  return controllers.controlvae_update(kl, target, integral, unclipped_prev,
                                       ki=_FAST_KI)


@tf.function
def _naive_pi_step(kl, target, integral, unclipped_prev):
  """The same PI law integrating always (what the paper's check amounts to)."""
  del unclipped_prev
  error = target - kl
  integral = integral - _FAST_KI * error
  unclipped = 0.01 * tf.math.sigmoid(-error) + integral
  return tf.clip_by_value(unclipped, 0.0, 1.0), integral, unclipped


def test_controlvae_converges_on_synthetic_plant():
  target = 10.0  # reached at beta = 0.1
  kls, betas, _ = _simulate([target] * 3000, _controlvae_step)
  assert np.all((betas >= 0.0) & (betas <= 1.0))
  assert abs(kls[-500:].mean() - target) < 0.1 * target
  assert np.all(np.abs(kls[-500:] - target) < 0.1 * target)


def test_controlvae_does_not_wind_up_while_saturated():
  # Phase 1: 0.2 nats is unreachable (beta_max = 1 gives 1.43 nats), then the
  # target becomes reachable again.
  unreachable, reachable, switch = 0.2, 10.0, 2000
  targets = [unreachable] * switch + [reachable] * 1000
  kls, betas, integrals = _simulate(targets, _fast_controlvae_step)
  assert np.all((betas >= 0.0) & (betas <= 1.0))
  # Saturated, apart from single noisy batches below the target.
  assert betas[switch - 1000:switch].mean() > 0.99
  # The integrator stops within one step of saturating.
  assert integrals[:switch].max() < 1.0 + _FAST_KI * 30.0
  recovered = np.argmax(kls[switch:] > 0.9 * reachable)
  assert kls[switch + recovered] > 0.9 * reachable
  assert abs(kls[-200:].mean() - reachable) < 0.1 * reachable

  naive_kls, _, naive_integrals = _simulate(targets, _naive_pi_step)
  naive_recovered = np.argmax(naive_kls[switch:] > 0.9 * reachable)
  assert naive_integrals[switch - 1] > 2.0  # what anti-windup prevents
  assert recovered < 0.5 * naive_recovered


@pytest.mark.parametrize("kwargs", [
    dict(kp=-0.01),
    dict(ki=-1e-4),
    dict(beta_min=2.0, beta_max=1.0),
])
def test_controlvae_bad_arguments_raise(kwargs):
  with pytest.raises(ConfigError):
    controllers.controlvae_update(1.0, 2.0, 0.0, 0.0, **kwargs)


def test_initial_states():
  geco = controllers.geco_initial_state(2.0)
  assert float(geco.lagrange) == 2.0 and not bool(geco.initialized)
  control = controllers.controlvae_initial_state(beta_min=1.0)
  assert float(control.integral) == 0.0
  assert float(control.unclipped_beta) == 1.0
  with pytest.raises(ConfigError):
    controllers.geco_initial_state(0.0)
