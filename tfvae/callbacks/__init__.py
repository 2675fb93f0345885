"""Keras callbacks for any tfvae model: schedules, TensorBoard, checkpoints, evaluation.

    vae.fit(x, epochs=20, callbacks=[
        tfvae.callbacks.KLSchedule(
            tfvae.schedules.make_schedule("linear", warmup_steps=10_000)),
        tfvae.callbacks.TensorBoard("runs/mine", validation_data=x_val),
        tfvae.callbacks.Checkpoint("runs/mine/checkpoints", every=1000)])

All of them count in global steps (`model.optimizer.iterations`), which
checkpoints save, so a resumed run continues every schedule and interval.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfvae.callbacks import tensorboard as tb
from tfvae.callbacks.schedules import KLScheduleCallback
from tfvae.callbacks import training as training_callbacks
from tfvae.errors import ConfigError
from tfvae.errors import NonFiniteLossError  # pylint: disable=unused-import
from tfvae.runs import checkpoints

NonFiniteGuard = training_callbacks.NonFiniteGuard


class KLSchedule(KLScheduleCallback):
  """A KL weight schedule `step -> weight` as a Keras callback.

  On a tfvae `VAE` the schedule is installed in the model and evaluated inside
  every training step from the step counter: exact at any
  `steps_per_execution`, and continued by a resumed run. On any other Keras
  model with a `kl_weight` variable (the Keras VAE example with one added
  line) it assigns that variable before each batch (`KLScheduleCallback`),
  which with `steps_per_execution > 1` updates once per execution.

  Args:
    schedule: `step -> weight`, e.g. `tfvae.schedules.make_schedule(
      "linear", warmup_steps=10_000)` or any traceable function of the step.
  """

  def __init__(self, schedule, variable_getter=None):
    super().__init__(schedule, variable_getter)
    self._in_graph = False

  def on_train_begin(self, logs=None):
    install = getattr(self.model, "set_kl_schedule", None)
    self._in_graph = install is not None
    if self._in_graph:
      install(self.schedule_fn)
      # The step function was traced before this hook: trace it again.
      self.model.make_train_function(force=True)

  def on_train_batch_begin(self, batch, logs=None):
    if not self._in_graph:
      super().on_train_batch_begin(batch, logs)


class TensorBoard(keras.callbacks.Callback):
  """Every step's true quantities and each validation's diagnostics.

  Writes `<logdir>/train` (the values of every `log_every`-th training step:
  loss, -ELBO, bits/dim, rate, distortion, kl_weight, beta_eff, beta_norm,
  sigma and the balancer's state, not running means) and, with
  `validation_data`, `<logdir>/validation` at the end of every epoch: exact
  averages over the validation set, active units, per-dimension KL, mutual
  information, histograms, and for image data reconstructions and prior
  samples.

  Args:
    logdir: the run's TensorBoard directory.
    validation_data: an array or `tf.data.Dataset` of examples (batched), or
      None.
    log_every: write every n-th training step.
    image_every: steps between image summaries (0: every evaluation).
    batch_size: batch size for an array `validation_data`.
  """

  def __init__(self, logdir, validation_data=None, log_every=1, image_every=0,
               batch_size=256, seed=0):
    super().__init__()
    self.logdir = logdir
    self.writers = tb.make_writers(logdir)
    self._scalars = training_callbacks.BatchScalars(self.writers["train"],
                                                    log_every)
    self._evaluation = None
    if validation_data is not None:
      dataset = validation_data
      if not isinstance(dataset, tf.data.Dataset):
        dataset = tf.data.Dataset.from_tensor_slices(
            np.asarray(validation_data, np.float32)).batch(batch_size)
      preview = next(iter(dataset.unbatch().batch(8))).numpy()
      if not tb.is_image_shape(preview.shape[1:]):
        preview = None  # Image summaries only for image data.
      self._evaluation = training_callbacks.PeriodicEvaluation(
          dataset, self.writers["validation"], preview,
          image_every=image_every, print_fn=lambda *a: None, seed=seed)

  def set_model(self, model):
    super().set_model(model)
    self._scalars.set_model(model)
    if self._evaluation is not None:
      self._evaluation.set_model(model)

  def on_train_begin(self, logs=None):
    self._scalars.on_train_begin(logs)

  def on_train_batch_end(self, batch, logs=None):
    self._scalars.on_train_batch_end(batch, logs)

  def on_epoch_end(self, epoch, logs=None):
    if self._evaluation is not None:
      self._evaluation.on_epoch_end(epoch, logs)

  def on_train_end(self, logs=None):
    for writer in self.writers.values():
      writer.flush()

  @property
  def last_evaluation(self):
    """The diagnostics of the last validation pass (a dict), or None."""
    return self._evaluation.last_result if self._evaluation else None


class Checkpoint(keras.callbacks.Callback):
  """Checkpoints model, optimizer, step and balancer state; resumes from them.

  At the start of `fit` it restores the latest checkpoint in `directory` (if
  `resume`), so the step counter, schedules and controllers continue; it then
  saves every `every` steps and at the end. The data pipeline is yours: feed
  the batches after the restored step (`model.optimizer.iterations`) to
  continue exactly.

  Args:
    directory: where the checkpoints go.
    every: steps between checkpoints.
    keep: checkpoints to keep.
    resume: restore the latest checkpoint at the start of `fit`.
  """

  def __init__(self, directory, every=500, keep=3, resume=True):
    super().__init__()
    if not isinstance(every, int) or every < 1:
      raise ConfigError(f"every must be an integer >= 1, got {every!r}")
    self.directory = directory
    self.every = every
    self.keep = keep
    self.resume = resume
    self.restored = None
    self._saver = None

  def on_train_begin(self, logs=None):
    if self._saver is None:
      checkpoints.build_optimizer(self.model)
      manager = checkpoints.make_manager(self.model, self.directory,
                                         self.keep)
      if self.resume and manager.latest_checkpoint:
        self.restored = checkpoints.restore(manager)
      self._saver = training_callbacks.PeriodicCheckpoint(manager, self.every)
      self._saver.set_model(self.model)
      self._saver.params = self.params
    self._saver.on_train_begin(logs)

  def on_train_batch_end(self, batch, logs=None):
    self._saver.on_train_batch_end(batch, logs)

  def on_epoch_end(self, epoch, logs=None):
    self._saver.on_epoch_end(epoch, logs)

  def on_train_end(self, logs=None):
    self._saver.save_final()

  @property
  def latest(self):
    return tf.train.latest_checkpoint(self.directory) if os.path.isdir(
        self.directory) else None


__all__ = ["KLSchedule", "TensorBoard", "Checkpoint", "NonFiniteGuard",
           "NonFiniteLossError"]
