"""Keras callbacks of a tfvae run; all of them count in global steps.

The global step is `model.optimizer.iterations`, which checkpoints save, so
every periodic action lands on the same steps in a resumed run.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from tfvae.callbacks import tensorboard as tb
from tfvae.errors import NonFiniteLossError
from tfvae.metrics import diagnostics
from tfvae.objectives import seeds
from tfvae.runs import checkpoints


def global_step(model):
  return int(model.optimizer.iterations.numpy())


class StepLimit(keras.callbacks.Callback):
  """Stops training exactly at `total_steps` global steps."""

  def __init__(self, total_steps):
    super().__init__()
    self.total_steps = total_steps

  def on_train_batch_end(self, batch, logs=None):
    if global_step(self.model) >= self.total_steps:
      self.model.stop_training = True


class NonFiniteGuard(keras.callbacks.Callback):
  """Stops at the first non-finite step value and names the culprits.

  It runs once per execution but checks every step of it (`model.step_log`),
  so with `steps_per_execution > 1` it still names the first bad step; the
  steps after it in the same execution have run, but nothing is saved after
  it fires, so the last checkpoint stays the last good one.
  """

  def __init__(self, checkpoint_manager=None):
    super().__init__()
    self.manager = checkpoint_manager
    self._checked = 0

  def on_train_begin(self, logs=None):
    self._checked = global_step(self.model)

  def on_train_batch_end(self, batch, logs=None):
    steps, values = read_step_log(self.model, self._checked)
    if not len(steps):
      return
    table = np.stack([values[name] for name in values], axis=1)
    bad_rows = np.flatnonzero(~np.all(np.isfinite(table), axis=1))
    self._checked = int(steps[-1])
    if not len(bad_rows):
      return
    row = bad_rows[0]
    bad = [name for name in values if not math.isfinite(values[name][row])]
    self.model.stop_training = True
    latest = self.manager.latest_checkpoint if self.manager else None
    where = f"; last good checkpoint: {latest}" if latest else \
        "; no checkpoint was written"
    raise NonFiniteLossError(
        f"non-finite values at step {int(steps[row])}: " +
        ", ".join(f"{n}={float(values[n][row])}" for n in bad) + where +
        " (lower --learning_rate or check the data)")


def read_step_log(model, after_step):
  """(steps, {name: values}) of the training steps > after_step.

  From the model's per-step log when it has one, else its last batch.
  """
  if getattr(model, "step_log", None) is not None:
    return model.read_step_log(after_step)
  step = global_step(model)
  if step <= after_step:
    return np.zeros((0,), np.int64), {}
  return np.array([step]), {name: np.array([float(v.numpy())])
                            for name, v in model.last_batch.items()}


class BatchScalars(keras.callbacks.Callback):
  """Writes each step's values (not running means) every `log_every` steps.

  With `steps_per_execution > 1` Keras calls it once per execution; it then
  writes every (log_every-th) step of that execution from `model.step_log`,
  in one compiled call, so the per-step cost stays small.
  """

  def __init__(self, writer, log_every=1):
    super().__init__()
    self.writer = writer
    self.log_every = max(1, int(log_every))
    self._written = 0
    self._write = None

  def on_train_begin(self, logs=None):
    self._written = global_step(self.model)

  def on_train_batch_end(self, batch, logs=None):
    step = global_step(self.model)
    # Nothing to write unless a multiple of log_every is in (written, step].
    if step // self.log_every <= self._written // self.log_every:
      return
    steps, values = read_step_log(self.model, self._written)
    self._written = step
    keep = steps % self.log_every == 0
    if not np.any(keep) or not values:
      return
    names = list(values)
    if self._write is None:
      self._write = _summary_writer_fn(self.writer, names)
    table = np.stack([values[name][keep] for name in names], axis=1)
    self._write(steps[keep].astype(np.int64), table.astype(np.float32))

  def on_train_end(self, logs=None):
    self.writer.flush()


def _summary_writer_fn(writer, names):
  """A compiled function writing rows of scalars, one row per step.

  `tf.summary.write` with the scalar plugin's metadata is what
  `tf.summary.scalar` does, without the name scope of the loop in the tag.
  """
  from tensorboard.plugins.scalar import metadata  # pylint: disable=import-outside-toplevel
  scalar_metadata = metadata.create_summary_metadata(display_name=None,
                                                     description=None)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.int64),
      tf.TensorSpec([None, len(names)], tf.float32)])
  def write(steps, table):
    with writer.as_default():
      for i in tf.range(tf.shape(steps)[0]):
        for j, name in enumerate(names):
          tf.summary.write(name, table[i, j], step=steps[i],
                           metadata=scalar_metadata)

  return write


class PeriodicCheckpoint(keras.callbacks.Callback):
  """Saves every `every` global steps and at the end of training.

  Everything logged up to a checkpoint's step is on disk before the checkpoint
  is (a run killed just after it resumes without gaps in TensorBoard): the
  writers are flushed first, and a save due on an epoch's last step waits for
  `on_epoch_end`, after that step's evaluation (list this callback after
  `PeriodicEvaluation`). A checkpoint never holds non-finite weights: they
  raise `NonFiniteLossError` instead, so the latest checkpoint stays good.
  """

  def __init__(self, manager, every, writers=()):
    super().__init__()
    self.manager = manager
    self.every = every
    self.writers = list(writers)
    self._pending = False
    self._last_saved = None

  def on_train_begin(self, logs=None):
    self._last_saved = global_step(self.model)

  def on_train_batch_end(self, batch, logs=None):
    step = global_step(self.model)
    # `//` rather than `%`: with steps_per_execution > 1 steps jump by k.
    if step // self.every > self._last_saved // self.every:
      steps_per_epoch = (self.params or {}).get("steps")
      epoch_ends = self.model.stop_training or (
          steps_per_epoch is not None and batch + 1 >= steps_per_epoch)
      if epoch_ends:
        self._pending = True
      else:
        self.save(step)

  def on_epoch_end(self, epoch, logs=None):
    if self._pending:
      self._pending = False
      self.save(global_step(self.model))

  def save(self, step):
    bad = [v.path for v in self.model.weights
           if v.dtype.startswith("float") and not np.all(np.isfinite(v.numpy()))]
    if bad:
      latest = self.manager.latest_checkpoint or "none"
      raise NonFiniteLossError(
          f"non-finite weights after step {step} ({', '.join(bad[:5])}); not "
          f"saved, last good checkpoint: {latest} (lower --learning_rate or "
          "check the data)")
    try:
      for writer in self.writers:
        writer.flush()
      self.manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as e:
      # TF writes a checkpoint to temporary files and updates the index
      # last, so the previous checkpoint is still the latest and intact.
      self.model.stop_training = True
      latest = self.manager.latest_checkpoint or "none"
      error = checkpoints.storage_error(
          f"checkpoint {step} in {self.manager.directory}", e)
      raise checkpoints.StorageError(
          f"{error}; the latest checkpoint is still {latest}") from None
    self._last_saved = step

  def save_final(self):
    step = global_step(self.model)
    latest = self.manager.latest_checkpoint
    if latest is None or not latest.endswith(f"-{step}"):
      self.save(step)


# The validation scalars of every evaluation during training.
SCALAR_KEYS = ("loss", "neg_elbo", "bits_per_dim", "rate", "distortion",
               "active_units", "mutual_information", "index_code_mi",
               "total_correlation", "dimwise_kl")


class PeriodicEvaluation(keras.callbacks.Callback):
  """Exact validation diagnostics, histograms and images at each epoch end.

  An "epoch" of a tfvae run is `eval_every` steps (see `trainer`). With
  `float32_copy` (a float32 model of the same architecture, for a run in a
  16-bit policy), the trained weights are copied into it and it is scored
  instead: the numbers are the float32 model's.
  """

  def __init__(self, dataset, writer, images, image_every=0, print_fn=print,
               seed=0, float32_copy=None):
    super().__init__()
    self.float32_copy = float32_copy
    self.dataset = dataset
    self.writer = writer
    self.images = images
    self.image_every = image_every
    self.print_fn = print_fn
    self.seed = seed
    self.last_result = None
    self.last_step = None
    self._last_image_step = -1
    self._start = time.time()

  def scored_model(self):
    """The model scored: the trained one, or its float32 copy, updated."""
    if self.float32_copy is None:
      return self.model
    targets = self.float32_copy.state_weights()
    sources = self.model.state_weights()
    if [tuple(v.shape) for v in targets] != [tuple(v.shape) for v in sources]:
      raise ValueError("float32_copy must have the trained model's weights")
    for target, source in zip(targets, sources):
      target.assign(source.value)
    return self.float32_copy

  def evaluate(self):
    step = global_step(self.model)
    scored = self.scored_model()
    # Its draws are seeded by (run seed, step): the same weights give the same
    # numbers in any process, after any resume.
    result, z_means, z_log_vars = diagnostics.evaluate(
        scored, self.dataset, seed=seeds.for_step(self.seed, step))
    self.last_result = result
    self.last_step = step
    with self.writer.as_default(step=step):
      tb.write_scalars({name: result[name] for name in SCALAR_KEYS})
      tb.write_kl_per_dim(result["kl_per_dim"])
      tb.write_histograms({"z_mean": z_means, "z_log_variance": z_log_vars,
                           "kl_per_dim": np.asarray(result["kl_per_dim"])})
    images_due = (self.image_every == 0 or
                  step - self._last_image_step >= self.image_every)
    if self.images is not None and images_due:
      self.write_images(scored, step)
    self.writer.flush()
    return result

  def write_images(self, model, step):
    n = len(self.images)
    z = tf.random.stateless_normal((n, model.latent_dim),
                                   seed=[self.seed, 1])
    with self.writer.as_default(step=step):
      tb.write_reconstructions(model, self.images, step)
      tb.write_image_row("prior_samples", model.decode_mean(z).numpy(), step)
      kl = self.last_result["kl_per_dim"] if self.last_result else None
      tb.write_traversals(model, self.images, kl, step)
    self._last_image_step = step

  def on_epoch_end(self, epoch, logs=None):
    result = self.evaluate()
    self.print_fn(
        f"step {global_step(self.model)}: validation -ELBO "
        f"{result['neg_elbo']:.3f} nats ({result['bits_per_dim']:.4f} bits/dim), "
        f"rate {result['rate']:.3f}, distortion {result['distortion']:.3f}, "
        f"active units {result['active_units']}/{result['latent_dim']} "
        f"[{time.time() - self._start:.0f}s]")
