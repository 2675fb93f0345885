"""How many training steps one compiled call runs, for the CLI and the library.

A Keras train function runs `steps_per_execution` steps per call; between
calls Python runs the loop and the callbacks. Small models spend most of a
step there, so several steps per call train them several times faster
(measured in `benchmarks/throughput.py`, docs/performance.md), and every
step's values stay readable afterwards (`tfvae.models.step_log`).

Keras' multi-step loop runs up to `steps_per_execution` steps per call while
data last, and an epoch of `steps_per_epoch` steps is whole calls: with
steps_per_epoch = 7 and 50 steps per call on repeated data an epoch trains
50 steps. A model compiled with tfvae's automatic value therefore trains each
`fit` with `steps_for_epoch`: the largest divisor of the epoch's step count
up to the automatic value, or 1 when that count is unknown (an infinite or
unsized input without `steps_per_epoch`), so it trains exactly the steps of
one step per call.

Keras' epoch loop given arrays and no `steps_per_epoch` makes two data
iterators an epoch (one at its start, one at its end that the next epoch
discards), each rebuilding the array pipeline (~15 ms on a 2-core CPU, as
long as five steps of the digits mlp); given the epoch's step count it keeps
the one made at the end. `epoch_of_arrays` gives `fit` that count, which
changes no batch: the same weights after every epoch (tests/test_execution.py).
"""

import inspect
import math

import numpy as np
import tensorflow as tf

# Train steps per call for --steps_per_execution=0 (auto) and for a model
# compiled without `steps_per_execution`.
AUTO_STEPS_PER_EXECUTION = 50
# Keras' batch size for arrays given without one.
KERAS_DEFAULT_BATCH_SIZE = 32


def single_step_only(strategy):
  """Whether `strategy` must run one step per call.

  Several replicas of a (multi-worker) MirroredStrategy: Keras 3's multi-step
  loop fails there ("You must feed a value for placeholder tensor",
  keras-team/keras issue 19246).
  """
  return (strategy is not None and strategy.num_replicas_in_sync > 1 and
          not isinstance(strategy, tf.distribute.TPUStrategy))


def default_steps_per_execution(strategy=None):
  """The automatic steps per call under `strategy` (None: the current one)."""
  strategy = strategy or tf.distribute.get_strategy()
  return 1 if single_step_only(strategy) else AUTO_STEPS_PER_EXECUTION


def is_multi_worker(strategy):
  """True for a MultiWorkerMirroredStrategy whose cluster has several
  workers (its cluster resolver's spec: chief and workers)."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return False
  resolver = strategy.cluster_resolver
  if resolver is None:
    return False
  spec = resolver.cluster_spec().as_dict()
  return len(spec.get("chief", [])) + len(spec.get("worker", [])) > 1


def steps_for_epoch(auto_steps, counts):
  """The largest steps per call <= `auto_steps` that divides every count in
  `counts` (steps of an epoch, of a validation pass); 1 when one is None
  (unknown)."""
  steps = max(1, int(auto_steps))
  counts = list(counts)
  if any(count is None or count < 1 for count in counts):
    return 1
  common = 0
  for count in counts:
    common = math.gcd(common, int(count))
  return max(d for d in range(1, steps + 1) if common % d == 0)


def _first(x):
  """The first array of inputs given as a tuple or list, else x."""
  return x[0] if isinstance(x, (tuple, list)) and x else x


def batches_per_epoch(x, batch_size=None, steps=None, validation_split=0.0):
  """The batches one pass over `x` gives: `steps` when given, else a
  dataset's finite cardinality or an array's ceil(n / batch_size) (Keras'
  default 32; less a `validation_split`, as Keras splits); None when
  unknown or infinite."""
  if steps is not None:
    return int(steps)
  if isinstance(x, tf.data.Dataset):
    cardinality = int(x.cardinality().numpy())
    return cardinality if cardinality >= 0 else None
  x = _first(x)
  if isinstance(x, (np.ndarray, tf.Tensor)) or hasattr(x, "__array__"):
    n = int(np.shape(x)[0])
    if validation_split:
      n = int(math.floor(n * (1.0 - validation_split)))
    return math.ceil(n / (batch_size or KERAS_DEFAULT_BATCH_SIZE)) or None
  return None


def steps_for_call(auto_steps, method, model, x, args, kwargs):
  """The automatic steps per call for `method(model, x, *args, **kwargs)`
  (`keras.Model.fit`, `evaluate` or `predict`): `steps_for_epoch` of its
  epoch's steps (`steps_per_epoch` / `steps`, else the batches of x) and of
  `validation_steps` when given."""
  given = inspect.signature(method).bind(model, x, *args, **kwargs).arguments
  steps = given.get("steps_per_epoch", given.get("steps"))
  counts = [batches_per_epoch(x, given.get("batch_size"), steps,
                              given.get("validation_split", 0.0))]
  if given.get("validation_steps") is not None:
    counts.append(given["validation_steps"])
  return steps_for_epoch(auto_steps, counts)


def epoch_of_arrays(method, model, x, args, kwargs):
  """`fit` arguments naming the epoch Keras makes of in-memory arrays x:
  "steps_per_epoch" and, when not given, "batch_size" (Keras' default,
  which it would otherwise derive from steps_per_epoch); {} when x is not
  arrays or steps_per_epoch is given. (A validation pass makes two
  iterators however it is called: Keras' `evaluate` resets its loop.)"""
  given = inspect.signature(method).bind(model, x, *args, **kwargs).arguments
  if "steps_per_epoch" in given or not isinstance(
      _first(x), (np.ndarray, tf.Tensor)):
    return {}
  batch_size = given.get("batch_size") or KERAS_DEFAULT_BATCH_SIZE
  steps = batches_per_epoch(x, batch_size, None,
                            given.get("validation_split", 0.0))
  if not steps:
    return {}
  if given.get("batch_size"):
    return {"steps_per_epoch": steps}
  if "batch_size" in given and "batch_size" not in kwargs:
    return {}  # None given positionally: cannot be replaced by a keyword.
  return {"steps_per_epoch": steps, "batch_size": batch_size}
