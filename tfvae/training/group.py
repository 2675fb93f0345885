"""Several runs trained together: one data pipeline, one compiled step.

A sweep over the weighting (beta, beta_norm, a balancer, the likelihood) of a
small model spends most of each point's time outside its math: every point
starts TensorFlow, builds the same data pipeline and pays Python's per-call
cost on steps of about a millisecond. `train_group(configs)` trains K runs
that share their data and schedule in one process:

- one data pipeline: at step t all K models train on the same batch, the
  batch each run would get alone (the pipeline is a pure function of the
  shared seed);
- one compiled function runs `steps_per_execution` steps of all K models
  (each model's own `train_step`, optimizer and step log), so the per-call
  cost is paid once for K models;
- each run keeps everything else of an ordinary run, made by the trainer's
  own pieces (`trainer.prepare_run`, `trainer.finish_run`): its run
  directory, lock, checkpoints, TensorBoard logs, periodic evaluation, NaN
  guard and final metrics.

A run's numbers are those of the same run trained alone at the same seed (the
same initial weights, batches and posterior noise; float32 rounding aside, as
the K steps share one graph). Runs may differ in every setting except those
that fix the data, the batches and the step schedule (`SHARED_FIELDS`).
"""

import math
import time

import keras
import tensorflow as tf

from tfvae import precision
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.errors import ConfigError, TfvaeError
from tfvae.runs import lock
from tfvae.training import trainer

# Settings every run of a group shares: the data and its batches (data
# section, batch size, seed), the schedule of steps, evaluations and
# checkpoints, and what compiles the step.
SHARED_FIELDS = ("dataset", "binarization", "validation_fraction",
                 "max_examples", "batch_size", "steps", "epochs", "seed",
                 "strategy", "tpu", "mixed_precision", "jit_compile",
                 "steps_per_execution", "eval_every", "checkpoint_every")


def group_key(config):
  """The shared settings of `config`: runs with equal keys can be grouped."""
  flat = config.to_flat()
  return tuple((name, flat[name]) for name in SHARED_FIELDS)


def check_groupable(configs):
  """ConfigError unless `configs` can train as one group."""
  if not configs:
    raise ConfigError("configs must name at least one run",
                      params=("configs",))
  first = group_key(configs[0])
  for config in configs[1:]:
    for (name, value), (_, other) in zip(first, group_key(config)):
      if value != other:
        raise ConfigError(
            f"runs trained as one group must share --{name} (got {value!r} "
            f"and {other!r})", params=(name,))
  if configs[0].runtime.strategy != "default":
    raise ConfigError("runs trained as one group need --strategy=default "
                      f"(got {configs[0].runtime.strategy!r})",
                      params=("strategy",))
  logdirs = [config.run.logdir for config in configs]
  if len(set(logdirs)) != len(logdirs):
    raise ConfigError("runs trained as one group need distinct logdirs",
                      params=("logdir",))


def partition(configs, group_size):
  """Groups of at most `group_size` indices of `configs` with equal keys, in
  order of first appearance."""
  groups, open_groups = [], {}
  for i, config in enumerate(configs):
    key = group_key(config)
    if key not in open_groups or len(open_groups[key]) >= group_size:
      open_groups[key] = []
      groups.append(open_groups[key])
    open_groups[key].append(i)
  return groups


@lock.releases_locks
@precision.restores_global_policy
def train_group(configs, print_fns=None, data=None):
  """Trains the runs of `configs` together; see the module docstring.

  Args:
    configs: `ExperimentConfig`s of the runs (distinct logdirs, equal
      `SHARED_FIELDS`).
    print_fns: one print function per run (its progress lines), or None
      for `print` with the run's logdir in front.
    data: the loaded `ImageData` of the shared data set, or None to load it.

  Returns:
    One entry per run: its final metrics dict (as `trainer.train` returns),
    or the `TfvaeError` that stopped it (a run that fails, e.g. with a
    non-finite loss, does not stop the others).
  """
  configs = [config.validate() for config in configs]
  check_groupable(configs)
  if print_fns is None:
    print_fns = [_prefixed(config.run.logdir) for config in configs]
  started = time.time()
  first = configs[0]
  policy = precision.set_policy(first.runtime.mixed_precision)
  if data is None:
    data = datasets.load_data(first)
  runs, results = [], [None] * len(configs)
  for i, (config, print_fn) in enumerate(zip(configs, print_fns)):
    # The seed state a lone run builds its model from.
    keras.utils.set_random_seed(config.training.seed)
    try:
      runs.append((i, trainer.prepare_run(config, data, policy, print_fn,
                                          started)))
    except TfvaeError as e:
      results[i] = e
  to_train = {}
  for i, run in runs:
    if run.start_step < run.steps:
      to_train.setdefault(run.start_step, []).append((i, run))
  # Runs resumed from different steps see different batches: one group each.
  for members in to_train.values():
    failures = _fit_group([run for _, run in members], data)
    for (i, _), failure in zip(members, failures):
      results[i] = failure
  for i, run in runs:
    if results[i] is None:
      try:
        results[i] = trainer.finish_run(run)
      except TfvaeError as e:
        results[i] = e
  return results


def _prefixed(logdir):
  def print_fn(*args):
    print(f"[{logdir}]", *args)
  return print_fn


def _group_step(models, jit_compile):
  """One training step of every model on the same batch (compiled)."""

  # Each model's step is its own function, optimised alone: inlined into one
  # graph, grappler rewrote some points' steps otherwise than a lone run's
  # (the last bits of beta = 0.5 and 1 differed from step 3 on; with grappler
  # off, or with these functions, every point equals its lone run bit for
  # bit).
  steps = [tf.function(model.train_step, reduce_retracing=True,
                       experimental_attributes={"_noinline": True})
           for model in models]

  def step(batch):
    losses = []
    for model, model_step in zip(models, steps):
      logs = model.distribute_strategy.run(model_step, args=(batch,))
      losses.append(logs["loss"])
    return tf.stack(losses)

  return tf.function(step, jit_compile=jit_compile, reduce_retracing=True)


def _make_execution(models, steps_per_execution, jit_compile):
  """A compiled call running `steps_per_execution` group steps."""
  step = _group_step(models, jit_compile)

  @tf.function
  def execution(iterator):
    def body(i):
      losses = step(iterator.get_next())
      with tf.control_dependencies([losses]):
        return (i + 1,)

    return tf.while_loop(lambda i: i < steps_per_execution, body,
                         (tf.constant(0),))

  return execution


def _fit_group(runs, data):
  """Trains `runs` (same start step) to their last step, each with its own
  callbacks driven as Keras' `fit` drives them; returns one failure (a
  TfvaeError) or None per run."""
  first = runs[0]
  config = first.config
  start, steps = first.start_step, first.steps
  train_ds = pipeline.train_dataset(data, config.training.batch_size,
                                    config.training.seed,
                                    config.data.binarization)
  # The pipeline is deterministic given the seed: skip what was consumed.
  iterator = iter(train_ds.skip(start))
  models = [run.model for run in runs]
  per_call = trainer.execution_steps(config, start, steps)
  for model in models:
    model.steps_per_execution = per_call
    model.stop_training = False
  execution = _make_execution(models, per_call, config.runtime.jit_compile)
  chunk = config.run.eval_every
  epochs = math.ceil((steps - start) / chunk)
  callback_lists = [keras.callbacks.CallbackList(
      run.callbacks, model=run.model, epochs=epochs, steps=chunk, verbose=0)
                    for run in runs]
  failures = [None] * len(runs)

  def each(method, *args):
    for k, callbacks in enumerate(callback_lists):
      if failures[k] is not None:
        continue
      try:
        getattr(callbacks, method)(*args)
      except TfvaeError as e:
        failures[k] = e

  each("on_train_begin")
  step = start
  for epoch in range(epochs):
    for model in models:
      model.reset_metrics()
    each("on_epoch_begin", epoch)
    batch = 0
    while batch < chunk and step < steps:
      each("on_train_batch_begin", batch)
      execution(iterator)
      step += per_call
      batch += per_call
      each("on_train_batch_end", batch - 1)
      if all(failures[k] is not None or models[k].stop_training
             for k in range(len(runs))):
        break
    each("on_epoch_end", epoch)
    if all(failures[k] is not None or models[k].stop_training
           for k in range(len(runs))) or step >= steps:
      break
  each("on_train_end")
  return failures
