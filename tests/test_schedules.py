"""Tests of the KL weight schedules against independent NumPy references."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tfvae.balancing import schedules
from tfvae.errors import ConfigError

# ------------------------------------------------------------ NumPy references


def frange_cycle_reference(n_iter, start, stop, n_cycle, ratio):
  """Fu et al.'s frange_cycle_linear, rewritten from its description."""
  weights = np.full(n_iter, stop, dtype=np.float64)
  period = n_iter / n_cycle
  increment = (stop - start) / (period * ratio)
  for c in range(n_cycle):
    v, i = start, 0
    while v <= stop and int(i + c * period) < n_iter:
      weights[int(i + c * period)] = v
      v += increment
      i += 1
  return weights


def shaped_cycle_reference(n_iter, start, stop, n_cycle, ratio, ramp):
  """The same cycles with tau = i / period and the ramp f(tau / ratio)."""
  weights = np.full(n_iter, stop, dtype=np.float64)
  period = n_iter / n_cycle
  for c in range(n_cycle):
    i = 0
    while i / (period * ratio) <= 1 and int(i + c * period) < n_iter:
      weights[int(i + c * period)] = start + (stop - start) * ramp(
          i / (period * ratio))
      i += 1
  return weights


RAMPS = {
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-(12.0 * v - 6.0))),
    "cosine": lambda v: 0.5 - 0.5 * math.cos(math.pi * v),
}

STEPS = np.concatenate([np.arange(0, 50), np.arange(50, 5000, 37)])

# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize("warmup_steps,start,stop", [(1000, 0.0, 1.0),
                                                     (37, 0.2, 4.0),
                                                     (500, 1.0, 0.1)])
def test_linear_matches_formula(warmup_steps, start, stop):
  expected = start + (stop - start) * np.minimum(1.0, STEPS / warmup_steps)
  actual = schedules.linear(STEPS, warmup_steps, start, stop).numpy()
  np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_linear_zero_warmup_is_stop_at_once():
  actual = schedules.linear(STEPS, 0, start=0.3, stop=2.0).numpy()
  np.testing.assert_allclose(actual, 2.0)


def test_sigmoid_default_constants():
  warmup_steps = 2000
  k, x0 = 10.0 / warmup_steps, warmup_steps / 2.0
  expected = 1.0 / (1.0 + np.exp(-k * (STEPS - x0)))
  actual = schedules.sigmoid(STEPS, warmup_steps).numpy()
  np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_sigmoid_explicit_constants_and_range():
  k, x0, start, stop = 0.0025, 2500.0, 0.5, 2.0
  expected = start + (stop - start) / (1.0 + np.exp(-k * (STEPS - x0)))
  actual = schedules.sigmoid(STEPS, 100, start, stop, k=k, x0=x0).numpy()
  np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_sigmoid_zero_warmup_is_stop_at_once():
  np.testing.assert_allclose(schedules.sigmoid(STEPS, 0).numpy(), 1.0)


CYCLE_CASES = [(n_iter, n_cycle, ratio) for n_iter in (1, 7, 10, 100, 1001)
               for n_cycle in (1, 3, 4, 7)
               for ratio in (0.1, 0.3, 0.5, 1 / 3, 0.75, 1.0)]


@pytest.mark.parametrize("start,stop", [(0.0, 1.0), (0.2, 0.7)])
def test_cyclical_linear_matches_frange_cycle_linear(start, stop):
  for n_iter, n_cycle, ratio in CYCLE_CASES:
    steps = np.arange(n_iter + 20)
    expected = np.concatenate([
        frange_cycle_reference(n_iter, start, stop, n_cycle, ratio),
        np.full(20, stop)
    ])
    actual = schedules.cyclical(steps, n_iter, n_cycle, ratio, "linear",
                                start, stop).numpy()
    np.testing.assert_allclose(
        actual, expected, atol=1e-6, err_msg=f"{(n_iter, n_cycle, ratio)}")


@pytest.mark.parametrize("shape", ["sigmoid", "cosine"])
def test_cyclical_shapes_match_reference(shape):
  for n_iter, n_cycle, ratio in CYCLE_CASES:
    steps = np.arange(n_iter + 20)
    expected = np.concatenate([
        shaped_cycle_reference(n_iter, 0.1, 0.9, n_cycle, ratio,
                               RAMPS[shape]),
        np.full(20, 0.9)
    ])
    actual = schedules.cyclical(steps, n_iter, n_cycle, ratio, shape, 0.1,
                                0.9).numpy()
    np.testing.assert_allclose(
        actual, expected, atol=1e-6, err_msg=f"{(n_iter, n_cycle, ratio)}")


def test_cyclical_defaults_on_a_paper_sized_run():
  expected = frange_cycle_reference(10000, 0.0, 1.0, 4, 0.5)
  actual = schedules.cyclical(np.arange(10000), 10000).numpy()
  np.testing.assert_allclose(actual, expected, atol=1e-6)
  # Four ramps of 1250 steps, each followed by 1250 steps at 1.
  np.testing.assert_allclose(actual[[0, 625, 1250, 2499, 2500]],
                             [0.0, 0.5, 1.0, 1.0, 0.0], atol=1e-6)


def test_capacity_matches_formula():
  steps = np.arange(0, 300000, 997)
  expected = np.minimum(25.0, 25.0 * steps / 100000)
  actual = schedules.capacity(steps, 25.0, 100000).numpy()
  np.testing.assert_allclose(actual, expected, rtol=1e-6)
  np.testing.assert_allclose(schedules.capacity(7, 25.0, 0).numpy(), 25.0)


def test_constant_is_shaped_like_step():
  actual = schedules.constant(np.arange(6).reshape(2, 3), 0.25).numpy()
  assert actual.shape == (2, 3)
  np.testing.assert_allclose(actual, 0.25)


def test_negative_steps_count_as_zero():
  np.testing.assert_allclose(schedules.linear([-5, 0], 10).numpy(), [0, 0])
  np.testing.assert_allclose(
      schedules.cyclical([-3, 0], 100).numpy(), [0, 0])


SCHEDULE_CASES = [
    ("constant", dict(value=0.7)),
    ("linear", dict(warmup_steps=333, start=0.1, stop=2.0)),
    ("sigmoid", dict(warmup_steps=500)),
    ("cyclical", dict(total_steps=1000, n_cycles=3, ratio=0.4,
                      shape="cosine")),
    ("capacity", dict(capacity_max=25.0, capacity_steps=700)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULE_CASES)
def test_step_types_agree(name, kwargs):
  schedule = schedules.make_schedule(name, **kwargs)
  steps = [0, 1, 166, 250, 999, 1234]
  expected = np.array([float(schedule(step).numpy()) for step in steps])
  as_int64 = schedule(tf.constant(steps, tf.int64)).numpy()
  as_int32 = schedule(tf.constant(steps, tf.int32)).numpy()
  as_float = schedule(tf.constant(steps, tf.float32)).numpy()
  as_numpy = schedule(np.array(steps)).numpy()
  as_variable = [
      schedule(keras.Variable(step, dtype="int64", trainable=False)).numpy()
      for step in steps
  ]
  compiled = tf.function(schedule)(tf.constant(steps, tf.int64)).numpy()
  for actual in (as_int64, as_int32, as_float, as_numpy, as_variable,
                 compiled):
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
  assert schedule(5).dtype == tf.float32


@pytest.mark.parametrize("name,kwargs", SCHEDULE_CASES)
def test_make_schedule_equals_direct_call(name, kwargs):
  direct = getattr(schedules, name)(STEPS, **kwargs).numpy()
  made = schedules.make_schedule(name, **kwargs)(STEPS).numpy()
  np.testing.assert_array_equal(made, direct)


@pytest.mark.parametrize("name,kwargs", [
    ("warmup", dict(warmup_steps=10)),
    ("linear", dict()),
    ("linear", dict(warmup_steps=10, tau=3)),
    ("linear", dict(warmup_steps=-1)),
    ("linear", dict(warmup_steps=float("nan"))),
    ("linear", dict(warmup_steps=10, stop="1")),
    ("sigmoid", dict(warmup_steps=10, k=0.0)),
    ("cyclical", dict(total_steps=100, ratio=0.0)),
    ("cyclical", dict(total_steps=100, ratio=1.5)),
    ("cyclical", dict(total_steps=100, n_cycles=0)),
    ("cyclical", dict(total_steps=100, n_cycles=2.5)),
    ("cyclical", dict(total_steps=0)),
    ("cyclical", dict(total_steps=100, shape="square")),
    ("capacity", dict(capacity_max=-1.0, capacity_steps=10)),
    ("capacity", dict(capacity_max=25.0, capacity_steps=-10)),
    ("constant", dict(value=True)),
])
def test_make_schedule_rejects_bad_arguments(name, kwargs):
  with pytest.raises(ConfigError):
    schedules.make_schedule(name, **kwargs)


def test_direct_calls_reject_bad_arguments():
  with pytest.raises(ConfigError):
    schedules.cyclical(3, 100, ratio=2.0)
  with pytest.raises(ConfigError):
    schedules.linear(3, -4)


# ------------------------------------------------------------------ callback


class _FakeOptimizer:

  def __init__(self, step):
    self.iterations = keras.Variable(step, dtype="int64", trainable=False)


class _FakeModel:

  def __init__(self, step, weight_variable):
    self.optimizer = _FakeOptimizer(step)
    self.kl_weight = weight_variable


def test_public_schedules_offer_the_math_and_the_callback():
  """`tfvae.schedules` keeps every public schedule name of the math's module
  and adds the callback, which lives with the other callbacks."""
  from tfvae.callbacks import schedules as callback_schedules  # pylint: disable=import-outside-toplevel
  assert tfvae.schedules is callback_schedules
  public = [n for n in dir(schedules) if not n.startswith("_") and
            n not in ("functools", "inspect", "math", "numbers", "tf", "Any",
                      "Callable", "ConfigError")]
  for name in public:
    assert getattr(tfvae.schedules, name) is getattr(schedules, name), name
  assert not hasattr(schedules, "KLScheduleCallback")
  assert issubclass(tfvae.callbacks.KLSchedule,
                    tfvae.schedules.KLScheduleCallback)


@pytest.mark.parametrize("make_variable", [
    lambda: tf.Variable(0.0, trainable=False),
    lambda: keras.Variable(0.0, trainable=False),
])
def test_callback_assigns_schedule_at_optimizer_step(make_variable):
  schedule = schedules.make_schedule("linear", warmup_steps=100)
  model = _FakeModel(40, make_variable())
  callback = tfvae.schedules.KLScheduleCallback(schedule)
  callback.set_model(model)
  callback.on_train_batch_begin(0)
  assert float(np.asarray(model.kl_weight)) == pytest.approx(0.4)
  model.optimizer.iterations.assign(250)
  callback.on_train_batch_begin(1)
  assert float(np.asarray(model.kl_weight)) == pytest.approx(1.0)


def test_callback_with_variable_getter():
  model = _FakeModel(3, None)
  model.beta = tf.Variable(0.0)
  callback = tfvae.schedules.KLScheduleCallback(
      schedules.make_schedule("linear", warmup_steps=10),
      variable_getter=lambda m: m.beta)
  callback.set_model(model)
  callback.on_train_batch_begin(0)
  assert float(model.beta.numpy()) == pytest.approx(0.3)


def test_callback_without_kl_weight_raises():
  model = _FakeModel(0, None)
  del model.kl_weight
  callback = tfvae.schedules.KLScheduleCallback(lambda step: 1.0)
  callback.set_model(model)
  with pytest.raises(ConfigError):
    callback.on_train_batch_begin(0)


class WeightedModel(keras.Model):
  """A linear model whose loss uses a scheduled `kl_weight` variable."""

  def __init__(self):
    super().__init__()
    self.dense = keras.layers.Dense(1)
    self.kl_weight = keras.Variable(0.0, trainable=False, name="kl_weight")
    self.seen_weights = []

  def call(self, inputs):
    return self.dense(inputs)

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    return self.kl_weight * tf.reduce_mean(tf.square(y - y_pred))


class _RecordWeight(keras.callbacks.Callback):

  def on_train_batch_begin(self, batch, logs=None):
    self.model.seen_weights.append(float(np.asarray(self.model.kl_weight)))


def test_callback_in_keras_fit_follows_optimizer_iterations():
  keras.utils.set_random_seed(0)
  model = WeightedModel()
  model.compile(optimizer=keras.optimizers.SGD(0.01))
  x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
  y = x.sum(axis=1, keepdims=True)
  schedule = schedules.make_schedule("linear", warmup_steps=10)
  callbacks = [tfvae.schedules.KLScheduleCallback(schedule), _RecordWeight()]
  model.fit(x, y, batch_size=8, epochs=1, callbacks=callbacks, verbose=0)
  np.testing.assert_allclose(model.seen_weights, [0.0, 0.1, 0.2, 0.3],
                             atol=1e-6)
  # A second fit (as after restoring a checkpoint) continues the schedule.
  model.fit(x, y, batch_size=8, epochs=1, callbacks=callbacks, verbose=0)
  np.testing.assert_allclose(model.seen_weights[4:], [0.4, 0.5, 0.6, 0.7],
                             atol=1e-6)
