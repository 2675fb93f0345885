"""KL weight schedules: pure functions of the global optimiser step.

Every schedule maps the global step t (a Python number, a NumPy array, a
`tf.Tensor` or a variable such as `optimizer.iterations`) to a float32
`tf.Tensor` of the same shape. Only TensorFlow ops are used, so the functions
also run inside a `tf.function`. Steps below 0 are treated as 0.

Schedules, with w0 = `start` and w1 = `stop`:

- constant:  w(t) = value.
- linear:    w(t) = w0 + (w1 - w0) min(1, t / T); T = 0 gives w1 at once.
- sigmoid (Bowman et al. 2016, "Generating Sentences from a Continuous
  Space"; the paper gives no constants):
             w(t) = w0 + (w1 - w0) / (1 + exp(-k (t - x0))),
  with the common defaults k = 10 / T and x0 = T / 2. It is not exactly w0 at
  t = 0 (about 0.0067 of the way) nor w1 at t = T.
- cyclical (Fu et al. 2019, "Cyclical Annealing Schedule: A Simple Approach to
  Mitigating KL Vanishing", NAACL): N = `total_steps` split into M cycles of
  period p = N / M. Step t lies in cycle c = the last cycle with
  floor(c p) <= t, at offset i = t - floor(c p); with v = i / (p R),
             w(t) = w0 + (w1 - w0) f(v)   if v <= 1,   else w1,
  f(v) = v (linear), 1 / (1 + exp(-(12 v - 6))) (sigmoid) or
  0.5 - 0.5 cos(pi v) (cosine). For t >= N the weight stays at w1. This is
  the schedule of the paper's `frange_cycle_linear(n_iter, start, stop,
  n_cycle, ratio)` at every integer step (its floor(i + c p) indexing
  included, which matters when N / M is not an integer), computed in closed
  form with integer arithmetic: c = min(M - 1, ((t + 1) M - 1) // N). The
  reference fills nothing when start > stop; here the ramp simply goes down.
  Non-integer steps are floored.
- capacity (Burgess et al. 2018, "Understanding disentangling in
  beta-VAE"): C(t) = min(C_max, C_max t / T), in nats; the caller's loss is
  rec + gamma |KL - C(t)|. T = 0 gives C_max at once.

`make_schedule(name, **kwargs)` checks the name and arguments once and returns
`step -> weight`. Applying one to a Keras model is a callback's job
(`tfvae.callbacks.schedules.KLScheduleCallback`; the public `tfvae.schedules`
offers both).
"""

import functools
import inspect
import math
import numbers
from typing import Any, Callable

import tensorflow as tf

from tfvae.errors import ConfigError

CYCLE_SHAPES = ("linear", "sigmoid", "cosine")

# ------------------------------------------------------------ argument checks


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_finite(name: str, value) -> None:
  if not _is_number(value) or not math.isfinite(value):
    raise ConfigError(f"{name} must be a finite number, got {value!r}.")


def _check_steps(name: str, value) -> None:
  if not _is_number(value) or not math.isfinite(value) or value < 0:
    raise ConfigError(
        f"{name} must be a non-negative number of steps, got {value!r}.")


def _check_positive_int(name: str, value) -> None:
  if (not isinstance(value, numbers.Integral) or isinstance(value, bool) or
      value < 1):
    raise ConfigError(f"{name} must be an integer >= 1, got {value!r}.")


def _check_constant_args(value) -> None:
  _check_finite("value", value)


def _check_linear_args(warmup_steps, start, stop) -> None:
  _check_steps("warmup_steps", warmup_steps)
  _check_finite("start", start)
  _check_finite("stop", stop)


def _check_sigmoid_args(warmup_steps, start, stop, k, x0) -> None:
  _check_linear_args(warmup_steps, start, stop)
  if k is not None:
    _check_finite("k", k)
    if k <= 0:
      raise ConfigError(f"k must be > 0 (swap start and stop to decrease), "
                        f"got {k!r}.")
  if x0 is not None:
    _check_finite("x0", x0)


def _check_cyclical_args(total_steps, n_cycles, ratio, shape, start,
                         stop) -> None:
  _check_positive_int("total_steps", total_steps)
  _check_positive_int("n_cycles", n_cycles)
  _check_finite("ratio", ratio)
  if not 0 < ratio <= 1:
    raise ConfigError(f"ratio must be in (0, 1], got {ratio!r}.")
  if shape not in CYCLE_SHAPES:
    raise ConfigError(
        f"shape must be one of {', '.join(CYCLE_SHAPES)}, got {shape!r}.")
  _check_finite("start", start)
  _check_finite("stop", stop)


def _check_capacity_args(capacity_max, capacity_steps) -> None:
  _check_finite("capacity_max", capacity_max)
  if capacity_max < 0:
    raise ConfigError(f"capacity_max must be >= 0 nats, got {capacity_max!r}.")
  _check_steps("capacity_steps", capacity_steps)


# ------------------------------------------------------------------ schedules


def _step_as_float64(step) -> tf.Tensor:
  """The step as float64 (exact for integers below 2**53), clamped at 0."""
  return tf.maximum(tf.cast(tf.convert_to_tensor(step), tf.float64), 0.0)


def _interpolate(fraction, start, stop) -> tf.Tensor:
  return tf.cast(start + (stop - start) * fraction, tf.float32)


def constant(step, value) -> tf.Tensor:
  """w(t) = value, shaped like `step`.

  Args:
    step: Global step(s).
    value: The constant weight.

  Returns:
    A float32 tensor shaped like `step`.
  """
  _check_constant_args(value)
  shape = tf.shape(_step_as_float64(step))
  return tf.fill(shape, tf.constant(value, tf.float32))


def linear(step, warmup_steps, start=0.0, stop=1.0) -> tf.Tensor:
  """Linear warm-up w(t) = start + (stop - start) min(1, t / T).

  Args:
    step: Global step(s).
    warmup_steps: T, the steps to go from `start` to `stop`; 0 gives `stop`.
    start: Weight at step 0.
    stop: Weight from step T on.

  Returns:
    A float32 tensor shaped like `step`.
  """
  _check_linear_args(warmup_steps, start, stop)
  t = _step_as_float64(step)
  if warmup_steps == 0:
    return _interpolate(tf.ones_like(t), start, stop)
  return _interpolate(tf.minimum(t / float(warmup_steps), 1.0), start, stop)


def sigmoid(step, warmup_steps, start=0.0, stop=1.0, k=None,
            x0=None) -> tf.Tensor:
  """Logistic warm-up w(t) = start + (stop - start) / (1 + exp(-k (t - x0))).

  Args:
    step: Global step(s).
    warmup_steps: T, which sets the defaults k = 10 / T and x0 = T / 2. With
      T = 0 and no explicit `k` the weight is `stop` at once.
    start: Lower asymptote.
    stop: Upper asymptote.
    k: Steepness (> 0) or None for 10 / T.
    x0: Mid-point step or None for T / 2.

  Returns:
    A float32 tensor shaped like `step`.
  """
  _check_sigmoid_args(warmup_steps, start, stop, k, x0)
  t = _step_as_float64(step)
  if k is None and warmup_steps == 0:
    return _interpolate(tf.ones_like(t), start, stop)
  steepness = 10.0 / warmup_steps if k is None else float(k)
  midpoint = warmup_steps / 2.0 if x0 is None else float(x0)
  return _interpolate(tf.math.sigmoid(steepness * (t - midpoint)), start, stop)


def _cycle_ramp(v: tf.Tensor, shape: str) -> tf.Tensor:
  """f(v) on [0, 1] for the three cycle shapes of Fu et al. 2019."""
  if shape == "linear":
    return v
  if shape == "sigmoid":
    return tf.math.sigmoid(12.0 * v - 6.0)
  return 0.5 - 0.5 * tf.cos(math.pi * v)


def cyclical(step,
             total_steps,
             n_cycles=4,
             ratio=0.5,
             shape="linear",
             start=0.0,
             stop=1.0) -> tf.Tensor:
  """Cyclical annealing of Fu et al. 2019 (see the module docstring).

  Args:
    step: Global step(s); non-integer steps are floored.
    total_steps: N, the number of steps the M cycles span (integer >= 1).
    n_cycles: M, the number of cycles (integer >= 1).
    ratio: R in (0, 1], the fraction of each cycle spent ramping up.
    shape: "linear", "sigmoid" or "cosine".
    start: Weight at the start of each cycle.
    stop: Weight after each ramp and after `total_steps`.

  Returns:
    A float32 tensor shaped like `step`.
  """
  _check_cyclical_args(total_steps, n_cycles, ratio, shape, start, stop)
  t = tf.cast(tf.floor(_step_as_float64(step)), tf.int64)
  # Integer arithmetic reproduces the reference's int(i + c * N / M) indexing.
  cycle = tf.minimum(
      tf.constant(n_cycles - 1, tf.int64),
      ((t + 1) * n_cycles - 1) // total_steps)
  offset = t - (cycle * total_steps) // n_cycles
  v = tf.cast(offset * n_cycles, tf.float64) / (total_steps * float(ratio))
  ramping = tf.logical_and(v <= 1.0, t < total_steps)
  fraction = tf.where(ramping, _cycle_ramp(tf.minimum(v, 1.0), shape),
                      tf.ones_like(v))
  return _interpolate(fraction, start, stop)


def capacity(step, capacity_max, capacity_steps) -> tf.Tensor:
  """Capacity C(t) = min(C_max, C_max t / T) in nats (Burgess et al. 2018).

  Args:
    step: Global step(s).
    capacity_max: C_max in nats (dSprites: 25).
    capacity_steps: T, the steps to reach C_max (dSprites: 100000); 0 gives
      C_max at once.

  Returns:
    A float32 tensor shaped like `step`.
  """
  _check_capacity_args(capacity_max, capacity_steps)
  return linear(step, capacity_steps, start=0.0, stop=capacity_max)


# ------------------------------------------------------------------- factory

_SCHEDULES = {
    "constant": (constant, _check_constant_args),
    "linear": (linear, _check_linear_args),
    "sigmoid": (sigmoid, _check_sigmoid_args),
    "cyclical": (cyclical, _check_cyclical_args),
    "capacity": (capacity, _check_capacity_args),
}
SCHEDULE_NAMES = tuple(_SCHEDULES)


def schedule_function(name: str) -> Callable[..., tf.Tensor]:
  """The pure function behind schedule `name` (what `make_schedule` binds)."""
  return _SCHEDULES[name][0]


def make_schedule(name: str, **kwargs) -> Callable[[Any], tf.Tensor]:
  """Checks a schedule's name and arguments and returns `step -> weight`.

  Args:
    name: One of `SCHEDULE_NAMES`.
    **kwargs: The schedule's arguments other than `step`.

  Returns:
    A `functools.partial` of the schedule taking only the step.

  Raises:
    ConfigError: The name is unknown, an argument is missing, unknown or
      out of range.
  """
  if name not in _SCHEDULES:
    raise ConfigError(f"Unknown KL schedule {name!r}; expected one of "
                      f"{', '.join(SCHEDULE_NAMES)}.")
  schedule_fn, check_args = _SCHEDULES[name]
  signature = inspect.signature(schedule_fn)
  parameters = list(signature.parameters)[1:]
  unknown = sorted(set(kwargs) - set(parameters))
  if unknown:
    raise ConfigError(
        f"Schedule {name!r} got unknown argument(s) {', '.join(unknown)}; "
        f"it takes {', '.join(parameters)}.")
  try:
    bound = signature.bind(0, **kwargs)
  except TypeError:
    required = [
        p.name for p in list(signature.parameters.values())[1:]
        if p.default is inspect.Parameter.empty
    ]
    raise ConfigError(f"Schedule {name!r} needs {', '.join(required)}; got "
                      f"{', '.join(sorted(kwargs)) or 'nothing'}.") from None
  bound.apply_defaults()
  check_args(**{k: v for k, v in bound.arguments.items() if k != "step"})
  return functools.partial(schedule_fn, **kwargs)
