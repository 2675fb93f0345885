"""The balancing methods inside the VAE and in real training runs on `digits`.

The pure math is tested in test_schedules.py, test_free_bits.py and
test_controllers.py. Here the same methods are checked where users meet them:

- free bits inside `VAE.compute_terms`: the KL part of the gradient vanishes
  on clamped dimensions and the logged -ELBO and rate stay unclamped;
- the effective beta each balancer logs equals the ratio of the loss's actual
  sensitivities to the summed KL and the summed NLL;
- GECO and ControlVAE in short runs: the controllers follow their update rules
  on the current batch's logged values and reach their targets;
- a run resumed from a checkpoint logs the same schedule and controller state
  as an uninterrupted run;
- every schedule flag combination logs the weights of its reference formula.

Per-step values are read back from the TensorBoard event files under
`<logdir>/train`. A value logged at event step s belongs to the s-th optimiser
update, which ran at `optimizer.iterations == s - 1`.
"""

import collections
import glob
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

from test_schedules import frange_cycle_reference
from tfvae import likelihoods
from tfvae import networks
from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError
from tfvae.models.factory import build_model
from tfvae.models.vae import VAE
from tfvae import balancing
from tfvae.objectives.weighting import Weighting
from tfvae.objectives import kl as kl_lib
from tfvae.training import trainer

NUM_PIXELS = 64  # digits are 8x8x1.

# --------------------------------------------------------------------- helpers


def read_train_scalars(logdir):
  """{tag: {step: value}} of every scalar under <logdir>/train."""
  scalars = collections.defaultdict(dict)
  paths = sorted(glob.glob(os.path.join(logdir, "train", "events.out.*")),
                 key=os.path.getmtime)
  for path in paths:
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name != "scalars":
          continue
        scalars[value.tag][event.step] = float(tf.make_ndarray(value.tensor))
  return scalars


def series(scalars, tag):
  """(steps, values) of one tag, sorted by step."""
  steps = np.array(sorted(scalars[tag]))
  return steps, np.array([scalars[tag][s] for s in steps])


def digits_config(logdir, **overrides):
  """A small, deterministic Bernoulli VAE on statically binarised digits."""
  values = dict(dataset="digits", model="vae", likelihood="bernoulli",
                binarization="static", architecture="mlp", latent_dim=8,
                hidden_units=128, batch_size=64, learning_rate=1e-3, seed=0,
                eval_every=100000, checkpoint_every=100000, verbose=0,
                logdir=str(logdir))
  values.update(overrides)
  return ExperimentConfig.from_flat(**values)


def train(config):
  return trainer.train(config, print_fn=lambda *args: None)


def binary_digits(n):
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  images = datasets.load_digits().images[:n, :, :, None] / 16.0
  return (images > 0.5).astype(np.float32)


def gaussian_kl_numpy(mean, log_variance):
  return 0.5 * (np.square(mean) + np.exp(log_variance) - 1.0 - log_variance)


# ------------------------------------------------------------- (a) free bits


class FixedPosterior(keras.layers.Layer):
  """An 'encoder' whose outputs are variables: gradients land on them."""

  def __init__(self, mean, log_variance, **kwargs):
    super().__init__(**kwargs)
    self.mean = self.add_weight(shape=mean.shape, initializer="zeros",
                                name="posterior_mean")
    self.log_variance = self.add_weight(shape=mean.shape, initializer="zeros",
                                        name="posterior_log_variance")
    self.mean.assign(mean)
    self.log_variance.assign(log_variance)

  def call(self, x, training=False):
    del x, training
    return tf.identity(self.mean), tf.identity(self.log_variance)


def _posterior(batch, rng):
  """Dims 0, 2: KL ~ 0.001 nats; dim 1: KL spread around 0.5; dim 3: ~1.3."""
  mean = np.stack([rng.normal(0.0, 0.05, batch), np.linspace(-1.4, 1.4, batch),
                   rng.normal(0.0, 0.05, batch), rng.normal(1.5, 0.3, batch)],
                  axis=1)
  log_variance = np.stack([rng.normal(-0.02, 0.01, batch),
                           rng.normal(0.0, 0.05, batch),
                           rng.normal(0.02, 0.01, batch),
                           rng.normal(-1.0, 0.1, batch)], axis=1)
  return mean.astype(np.float32), log_variance.astype(np.float32)


def _vae_sharing(encoder, decoder, balancer, kl_weight):
  model = VAE(encoder, decoder, likelihoods.make_likelihood("bernoulli"),
              weighting=Weighting(beta=kl_weight), balancer=balancer, seed=0)
  model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
  return model


@pytest.mark.parametrize("mode", ["batch", "example"])
def test_free_bits_zero_kl_gradient_below_floor_and_unclamped_logs(mode):
  batch, latent_dim, floor = 16, 4, 0.25
  mean, log_variance = _posterior(batch, np.random.RandomState(1))
  kl = gaussian_kl_numpy(mean.astype(np.float64), log_variance)
  x = binary_digits(batch)
  encoder = FixedPosterior(mean, log_variance)
  decoder = networks.build_decoder((8, 8, 1), latent_dim, 1, "mlp", 32)
  with_free_bits = _vae_sharing(
      encoder, decoder,
      balancing.FreeBits(floor, mode), kl_weight=1.0)
  # Same networks and posterior noise, no KL term: the reconstruction part.
  reconstruction_only = _vae_sharing(encoder, decoder, balancing.KLWeight(),
                                     kl_weight=0.0)

  def gradients(model):
    with tf.GradientTape() as tape:
      loss = model.compute_terms(x, training=True)["loss"]
    grads = tape.gradient(loss, [encoder.mean, encoder.log_variance])
    return [g.numpy().astype(np.float64) for g in grads]

  full = gradients(with_free_bits)
  rec = gradients(reconstruction_only)
  kl_grad_mean, kl_grad_log_variance = full[0] - rec[0], full[1] - rec[1]

  if mode == "batch":
    # Kingma et al.: the floor acts on each dimension's batch-mean KL.
    active = np.broadcast_to(kl.mean(axis=0) >= floor, kl.shape)
    assert active[0].tolist() == [False, True, False, True]
  else:
    active = kl >= floor
    assert 0 < active[:, 1].sum() < batch  # dim 1 is clamped for some rows
  expected_mean = np.where(active, mean / batch, 0.0)
  expected_log_variance = np.where(
      active, 0.5 * (np.exp(log_variance.astype(np.float64)) - 1.0) / batch,
      0.0)
  np.testing.assert_allclose(kl_grad_mean, expected_mean, rtol=1e-4,
                             atol=1e-7)
  np.testing.assert_allclose(kl_grad_log_variance, expected_log_variance,
                             rtol=1e-4, atol=1e-7)
  assert np.all(kl_grad_mean[~active] == 0.0)
  assert np.all(kl_grad_log_variance[~active] == 0.0)

  # The logged numbers, recomputed by hand from the posterior and the decoder
  # at z = mean (noise off), use the unclamped KL.
  with_free_bits.sample_noise = False
  with_free_bits.train_step(tf.constant(x))
  logged = {k: float(v.numpy()) for k, v in with_free_bits.last_batch.items()}
  logits = decoder(tf.constant(mean)).numpy().reshape(batch, -1)
  pixels = x.reshape(batch, -1)
  bernoulli_nll = np.logaddexp(0.0, logits) - pixels * logits
  distortion = bernoulli_nll.sum(axis=1).mean()
  rate = kl.sum(axis=1).mean()
  if mode == "batch":
    clamped = np.maximum(kl.mean(axis=0), floor).sum()
  else:
    clamped = np.maximum(kl, floor).sum(axis=1).mean()
  assert clamped > rate + 0.1  # the floor binds
  np.testing.assert_allclose(logged["rate"], rate, rtol=1e-5)
  np.testing.assert_allclose(logged["distortion"], distortion, rtol=1e-5)
  np.testing.assert_allclose(logged["neg_elbo"], distortion + rate, rtol=1e-5)
  np.testing.assert_allclose(logged["bits_per_dim"],
                             (distortion + rate) / (NUM_PIXELS * math.log(2)),
                             rtol=1e-5)
  np.testing.assert_allclose(logged["loss"], distortion + clamped, rtol=1e-5)


def test_capacity_rejects_free_bits():
  with pytest.raises(ConfigError, match="free_bits"):
    digits_config("/unused", balancer="capacity", free_bits=0.5).validate()


def test_geco_accepts_non_positive_target_for_continuous_likelihoods():
  config = digits_config("/unused", likelihood="gaussian", sigma="0.1",
                         balancer="geco", geco_target=-0.5)
  assert config.validate().balancer.geco_target == -0.5
  with pytest.raises(ConfigError, match="geco_target"):
    digits_config("/unused", balancer="geco").validate()


# ------------------------------------------- effective beta of each balancer

BETA_CASES = {
    "beta_sum_sum": dict(beta=0.3),
    "beta_mean_mean": dict(beta=0.1, rec_reduction="mean",
                           kl_reduction="mean"),
    "beta_norm_sum_mean": dict(beta_norm=0.5, kl_reduction="mean"),
    "capacity_rec_mean": dict(balancer="capacity", capacity_gamma=5.0,
                              rec_reduction="mean"),
    "geco_per_pixel": dict(balancer="geco", geco_target=0.3,
                           geco_lambda_init=3.0, kl_reduction="mean"),
    "geco_per_example": dict(balancer="geco", geco_target=20.0,
                             geco_target_units="per_example",
                             geco_lambda_init=2.0),
    "controlvae": dict(balancer="controlvae", control_kl_target=5.0,
                       control_beta_min=0.2, rec_reduction="mean"),
}


@pytest.mark.parametrize("case", sorted(BETA_CASES))
def test_logged_effective_beta_is_the_loss_sensitivity_ratio(case, monkeypatch):
  """beta_eff = (dLoss / d sum-KL) / (dLoss / d sum-NLL), measured.

  Scaling the KL by t and the NLL by s (both 1) makes dLoss/dt the loss's
  weight on the batch-mean summed KL times that KL, and dLoss/ds likewise for
  the summed NLL, whatever the balancer does in between.
  """
  config = digits_config("/unused", **BETA_CASES[case]).validate()
  model = build_model(config, (8, 8, 1))
  model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
  kl_scale = tf.Variable(1.0)
  nll_scale = tf.Variable(1.0)
  plain_kl, plain_nll = kl_lib.gaussian_kl, model.likelihood.nll
  monkeypatch.setattr(kl_lib, "gaussian_kl",
                      lambda m, v: kl_scale * plain_kl(m, v))
  monkeypatch.setattr(model.likelihood, "nll",
                      lambda x, p: nll_scale * plain_nll(x, p))
  x = tf.constant(binary_digits(32))
  with tf.GradientTape() as tape:
    terms = model.compute_terms(x, training=True)
  d_kl, d_nll = tape.gradient(terms["loss"], [kl_scale, nll_scale])
  weight_on_rate = float(d_kl) / float(tf.reduce_mean(terms["rate"]))
  weight_on_distortion = float(d_nll) / float(
      tf.reduce_mean(terms["distortion"]))
  measured = weight_on_rate / weight_on_distortion
  assert abs(measured) > 1e-3
  np.testing.assert_allclose(float(terms["beta_eff"]), measured, rtol=1e-4)
  np.testing.assert_allclose(float(terms["beta_norm"]),
                             measured * 8 / NUM_PIXELS, rtol=1e-4)
  # The weight as written on the reduced KL term, per method.
  k_r = NUM_PIXELS if config.objective.rec_reduction == "mean" else 1
  j_r = 8 if config.objective.kl_reduction == "mean" else 1
  if config.balancer.balancer == "geco":
    lagrange = config.balancer.geco_lambda_init
    np.testing.assert_allclose(float(terms["kl_weight"]), 1.0 / lagrange,
                               rtol=1e-6)
  elif config.balancer.balancer == "capacity":
    # Weight on the summed KL: gamma * sign(KL - C), C = 0 at step 0.
    np.testing.assert_allclose(float(terms["kl_weight"]),
                               config.balancer.capacity_gamma)
    np.testing.assert_allclose(measured, config.balancer.capacity_gamma * k_r,
                               rtol=1e-4)
  else:
    np.testing.assert_allclose(measured,
                               float(terms["kl_weight"]) * k_r / j_r,
                               rtol=1e-4)


# ----------------------------------------------------- (b) GECO on digits

GECO_TARGET = 0.22  # nats per pixel; a plain run is at ~0.28 after 2000 steps.
GECO_RATE = 0.01
GECO_ALPHA = 0.99


def test_geco_reaches_its_target_and_moves_its_multiplier(tmp_path):
  config = digits_config(tmp_path / "geco", steps=1500, balancer="geco",
                         geco_target=GECO_TARGET, geco_rate=GECO_RATE,
                         geco_alpha=GECO_ALPHA, geco_lambda_init=64.0)
  train(config)
  scalars = read_train_scalars(config.run.logdir)
  steps, distortion = series(scalars, "distortion")
  assert steps.tolist() == list(range(1, 1501))
  _, constraint = series(scalars, "geco_constraint")
  _, moving_average = series(scalars, "geco_constraint_ma")
  _, lagrange = series(scalars, "geco_lambda")
  _, kl_weight = series(scalars, "kl_weight")
  _, beta_eff = series(scalars, "beta_eff")

  # The controller sees the current batch: C_t = D_t / K - kappa of the
  # logged batch distortion, and C_ma its exponential moving average.
  np.testing.assert_allclose(constraint, distortion / NUM_PIXELS - GECO_TARGET,
                             atol=2e-5)
  expected_ma = np.empty_like(constraint)
  expected_ma[0] = constraint[0]
  for t in range(1, len(constraint)):
    expected_ma[t] = (GECO_ALPHA * expected_ma[t - 1] +
                      (1 - GECO_ALPHA) * constraint[t])
  np.testing.assert_allclose(moving_average, expected_ma, atol=1e-4)

  # lambda_{t+1} = lambda_t exp(nu C_ma_t): up while violated, down after.
  assert lagrange[0] == pytest.approx(64.0)
  np.testing.assert_allclose(lagrange[1:],
                             lagrange[:-1] * np.exp(GECO_RATE *
                                                    moving_average[:-1]),
                             rtol=1e-5)
  change = np.diff(lagrange)
  # Steps whose relative change float32 can represent.
  visible = np.abs(GECO_RATE * moving_average[:-1]) > 1e-6
  violated = visible & (moving_average[:-1] > 0)
  satisfied = visible & (moving_average[:-1] < 0)
  assert violated.sum() >= 50 and satisfied.sum() >= 50
  assert np.all(change[violated] > 0)
  assert np.all(change[satisfied] < 0)
  assert np.all((lagrange >= 1e-10) & (lagrange <= 1e10))
  # The logged weighting is the equivalent beta = 1 / lambda.
  np.testing.assert_allclose(kl_weight, 1.0 / lagrange, rtol=1e-5)
  np.testing.assert_allclose(beta_eff, NUM_PIXELS / lagrange, rtol=1e-5)

  # The moving-average reconstruction error ends within 10% of kappa.
  final_error = moving_average[-1] + GECO_TARGET
  assert abs(final_error - GECO_TARGET) <= 0.1 * GECO_TARGET


# ------------------------------------------------ (c) ControlVAE on digits

KL_SET_POINT = 10.0  # nats; a plain (beta = 1) run holds about 5 nats.
CONTROL_KP, CONTROL_KI = 0.01, 0.001
BETA_MIN, BETA_MAX = 0.0, 1.0
WARM_UP = 300


def controlvae_reference(batch_kl):
  """The PI controller (Shao et al. 2020) with conditional integration."""
  integral, unclipped = 0.0, BETA_MIN
  betas = []
  for kl in batch_kl:
    error = KL_SET_POINT - kl
    proportional = CONTROL_KP / (1.0 + math.exp(error))
    step = -CONTROL_KI * error
    winds_up = (unclipped > BETA_MAX and step > 0) or (
        unclipped < BETA_MIN and step < 0)
    if not winds_up:
      integral += step
    unclipped = proportional + integral + BETA_MIN
    betas.append(min(max(unclipped, BETA_MIN), BETA_MAX))
  return np.array(betas)


def test_controlvae_holds_the_batch_kl_at_its_set_point(tmp_path):
  config = digits_config(tmp_path / "controlvae", steps=1000,
                         balancer="controlvae", control_kl_target=KL_SET_POINT,
                         control_kp=CONTROL_KP, control_ki=CONTROL_KI,
                         control_beta_min=BETA_MIN, control_beta_max=BETA_MAX)
  train(config)
  scalars = read_train_scalars(config.run.logdir)
  steps, batch_kl = series(scalars, "rate")
  assert steps.tolist() == list(range(1, 1001))
  _, beta = series(scalars, "controlvae_beta")
  _, kl_weight = series(scalars, "kl_weight")
  _, beta_eff = series(scalars, "beta_eff")

  # beta at step t comes from the KL of the batch of step t itself.
  np.testing.assert_allclose(beta, controlvae_reference(batch_kl), atol=2e-4)
  np.testing.assert_allclose(kl_weight, beta, rtol=1e-6)
  np.testing.assert_allclose(beta_eff, beta, rtol=1e-6)  # sum/sum
  assert np.all((beta >= BETA_MIN) & (beta <= BETA_MAX))
  assert np.any(beta[:50] == BETA_MIN)  # early, KL < set point: clipped
  assert 0.1 < beta[-1] < 0.9

  held = batch_kl[WARM_UP:]
  relative_error = np.abs(held / KL_SET_POINT - 1.0)
  assert abs(held.mean() / KL_SET_POINT - 1.0) < 0.05
  assert np.mean(relative_error < 0.1) >= 0.95, relative_error.max()


# ------------------------------------------------ (d) save and restore state

RESUME_CASES = {
    "kl_linear": (dict(kl_schedule="linear", kl_warmup_steps=100,
                       kl_start=0.1, kl_stop=1.0), "kl_weight"),
    "geco": (dict(balancer="geco", geco_target=0.3, geco_rate=0.05,
                  geco_lambda_init=64.0), "geco_lambda"),
    "controlvae": (dict(balancer="controlvae", control_kl_target=10.0,
                        control_ki=0.001), "controlvae_beta"),
}
STATE_TAGS = ("kl_weight", "beta_eff", "rate", "distortion", "loss",
              "geco_lambda", "geco_constraint_ma", "controlvae_beta",
              "controlvae_integral")


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resumed_run_logs_the_same_state_as_an_uninterrupted_run(tmp_path,
                                                                 case):
  overrides, state_tag = RESUME_CASES[case]
  n, k = 40, 10  # 40 steps cross an epoch boundary of the 1617 images.
  straight = digits_config(tmp_path / "straight", steps=n + k, **overrides)
  train(straight)
  first = digits_config(tmp_path / "resumed", steps=n, checkpoint_every=n,
                        **overrides)
  train(first)
  final = train(digits_config(tmp_path / "resumed", steps=n + k,
                              checkpoint_every=n, **overrides))
  assert final["step"] == n + k

  expected = read_train_scalars(straight.run.logdir)
  resumed = read_train_scalars(first.run.logdir)
  assert sorted(resumed[state_tag]) == list(range(1, n + k + 1))
  # The state the restored run starts from is not its initial value.
  assert expected[state_tag][n + 1] != pytest.approx(expected[state_tag][1])
  assert resumed[state_tag][n + 1] == expected[state_tag][n + 1]
  for tag in STATE_TAGS:
    if tag not in expected:
      continue
    for step in range(n + 1, n + k + 1):
      assert resumed[tag][step] == pytest.approx(expected[tag][step],
                                                 rel=1e-5, abs=1e-6), (tag,
                                                                       step)


# -------------------------------------------- (e) schedules in a real fit


def linear_reference(t, warmup, start, stop):
  return start + (stop - start) * min(1.0, t / warmup)


def sigmoid_reference(t, warmup, start, stop, k=None, x0=None):
  k = 10.0 / warmup if k is None else k
  x0 = warmup / 2.0 if x0 is None else x0
  return start + (stop - start) / (1.0 + math.exp(-k * (t - x0)))


CYCLE_RAMPS = {
    "linear": lambda v: v,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-(12.0 * v - 6.0))),
    "cosine": lambda v: 0.5 - 0.5 * math.cos(math.pi * v),
}


def cyclical_reference(t, total, cycles, ratio, shape, start, stop):
  """Fu et al. 2019 with a whole number of steps per cycle."""
  if t >= total:
    return stop
  period = total // cycles
  tau = (t % period) / period
  if tau > ratio:
    return stop
  return start + (stop - start) * CYCLE_RAMPS[shape](tau / ratio)


def _beta_norm_stop(beta_norm):
  return beta_norm * NUM_PIXELS / 8  # sum/sum: beta = beta_eff = b K / J.


SCHEDULE_CASES = {
    "linear": (dict(kl_schedule="linear", kl_warmup_steps=40, kl_start=0.1,
                    kl_stop=0.9),
               lambda t: linear_reference(t, 40, 0.1, 0.9)),
    "sigmoid_defaults_beta": (
        dict(kl_schedule="sigmoid", kl_warmup_steps=40, beta=0.5),
        lambda t: sigmoid_reference(t, 40, 0.0, 0.5)),
    "sigmoid_explicit": (
        dict(kl_schedule="sigmoid", kl_warmup_steps=40, kl_sigmoid_k=0.3,
             kl_sigmoid_x0=15.0, kl_start=0.2, kl_stop=1.0),
        lambda t: sigmoid_reference(t, 40, 0.2, 1.0, k=0.3, x0=15.0)),
    "cyclical_linear": (
        dict(kl_schedule="cyclical", kl_warmup_steps=40, kl_cycles=4,
             kl_cycle_ratio=0.5, kl_cycle_shape="linear"),
        lambda t: frange_cycle_reference(40, 0.0, 1.0, 4, 0.5)[t]
        if t < 40 else 1.0),
    "cyclical_linear_uneven": (
        dict(kl_schedule="cyclical", kl_warmup_steps=45, kl_cycles=4,
             kl_cycle_ratio=0.7, kl_cycle_shape="linear", kl_start=0.2),
        lambda t: frange_cycle_reference(45, 0.2, 1.0, 4, 0.7)[t]
        if t < 45 else 1.0),
    "cyclical_sigmoid": (
        dict(kl_schedule="cyclical", kl_warmup_steps=40, kl_cycles=2,
             kl_cycle_ratio=0.6, kl_cycle_shape="sigmoid"),
        lambda t: cyclical_reference(t, 40, 2, 0.6, "sigmoid", 0.0, 1.0)),
    "cyclical_cosine_beta_norm": (
        dict(kl_schedule="cyclical", kl_warmup_steps=40, kl_cycles=4,
             kl_cycle_ratio=0.5, kl_cycle_shape="cosine", beta_norm=0.5),
        lambda t: cyclical_reference(t, 40, 4, 0.5, "cosine", 0.0,
                                     _beta_norm_stop(0.5))),
}


@pytest.mark.parametrize("case", sorted(SCHEDULE_CASES))
def test_schedule_flags_log_their_reference_weights(tmp_path, case):
  overrides, reference = SCHEDULE_CASES[case]
  config = digits_config(tmp_path / case, steps=55, hidden_units=32,
                         **overrides)
  train(config)
  steps, logged = series(read_train_scalars(config.run.logdir), "kl_weight")
  assert steps.tolist() == list(range(1, 56))
  expected = np.array([reference(s - 1) for s in steps])
  np.testing.assert_allclose(logged, expected, rtol=1e-6, atol=1e-6)
  assert len(np.unique(np.round(expected, 6))) > 5  # the weight really moves


def test_capacity_logs_its_reference_target(tmp_path):
  config = digits_config(tmp_path / "capacity", steps=55, hidden_units=32,
                         balancer="capacity", capacity_max=5.0,
                         capacity_steps=30, capacity_gamma=10.0)
  train(config)
  scalars = read_train_scalars(config.run.logdir)
  steps, capacity = series(scalars, "capacity")
  assert steps.tolist() == list(range(1, 56))
  expected = np.minimum(5.0, 5.0 * (steps - 1) / 30.0)
  np.testing.assert_allclose(capacity, expected, rtol=1e-6, atol=1e-6)
  # The logged weight on the summed KL is gamma * sign(KL_batch - C).
  _, rate = series(scalars, "rate")
  _, kl_weight = series(scalars, "kl_weight")
  np.testing.assert_allclose(kl_weight, 10.0 * np.sign(rate - capacity))
