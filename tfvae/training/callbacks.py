"""Keras callbacks of a tfvae run; all of them count in global steps.

The global step is `model.optimizer.iterations`, which checkpoints save, so
every periodic action lands on the same steps in a resumed run.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from tfvae.errors import TfvaeError
from tfvae.metrics import diagnostics
from tfvae.training import tensorboard as tb


class NonFiniteLossError(TfvaeError):
  """Training produced a NaN or infinite loss."""


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
  """Stops at the first non-finite batch value and names the culprits.

  Nothing is saved after it fires, so the last checkpoint stays the last good one.
  """

  def __init__(self, checkpoint_manager=None):
    super().__init__()
    self.manager = checkpoint_manager

  def on_train_batch_end(self, batch, logs=None):
    values = {name: float(v.numpy())
              for name, v in self.model.last_batch.items()}
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    if bad:
      self.model.stop_training = True
      latest = self.manager.latest_checkpoint if self.manager else None
      where = f"; last good checkpoint: {latest}" if latest else \
          "; no checkpoint was written"
      raise NonFiniteLossError(
          f"non-finite values at step {global_step(self.model)}: " +
          ", ".join(f"{n}={values[n]}" for n in bad) + where +
          " (lower --learning_rate or check the data)")


class BatchScalars(keras.callbacks.Callback):
  """Writes the last batch's values (not running means) at every step."""

  def __init__(self, writer):
    super().__init__()
    self.writer = writer

  def on_train_batch_end(self, batch, logs=None):
    step = global_step(self.model)
    with self.writer.as_default(step=step):
      for name, variable in self.model.last_batch.items():
        tf.summary.scalar(name, variable)

  def on_train_end(self, logs=None):
    self.writer.flush()


class PeriodicCheckpoint(keras.callbacks.Callback):
  """Saves every `every` global steps and at the end of training."""

  def __init__(self, manager, every):
    super().__init__()
    self.manager = manager
    self.every = every

  def on_train_batch_end(self, batch, logs=None):
    step = global_step(self.model)
    if step % self.every == 0:
      self.manager.save(checkpoint_number=step)

  def save_final(self):
    step = global_step(self.model)
    latest = self.manager.latest_checkpoint
    if latest is None or not latest.endswith(f"-{step}"):
      self.manager.save(checkpoint_number=step)


class PeriodicEvaluation(keras.callbacks.Callback):
  """Exact validation diagnostics, histograms and images at each epoch end.

  An "epoch" of a tfvae run is `eval_every` steps (see `trainer`).
  """

  def __init__(self, dataset, writer, images, image_every=0, print_fn=print,
               seed=0):
    super().__init__()
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

  def evaluate(self):
    step = global_step(self.model)
    result, z_means, z_log_vars = diagnostics.evaluate(self.model, self.dataset)
    self.last_result = result
    self.last_step = step
    with self.writer.as_default(step=step):
      for name in ("loss", "neg_elbo", "bits_per_dim", "rate", "distortion",
                   "active_units", "mutual_information"):
        tf.summary.scalar(name, result[name])
      for j, value in enumerate(result["kl_per_dim"]):
        tf.summary.scalar(f"kl_per_dim/{j:02d}", value)
      tf.summary.histogram("z_mean", z_means)
      tf.summary.histogram("z_log_variance", z_log_vars)
      tf.summary.histogram("kl_per_dim", np.asarray(result["kl_per_dim"]))
    if self.image_every == 0 or step - self._last_image_step >= self.image_every:
      self.write_images(step)
    self.writer.flush()
    return result

  def write_images(self, step):
    x = tf.convert_to_tensor(self.images)
    recon = self.model.reconstruct(x).numpy()
    n = x.shape[0]
    pairs = np.concatenate([self.images, recon], axis=0)
    z = tf.random.stateless_normal((n, self.model.latent_dim),
                                   seed=[self.seed, 1])
    samples = self.model.decode_mean(z).numpy()
    with self.writer.as_default(step=step):
      tf.summary.image("inputs_top_reconstructions_bottom",
                       tb.image_grid(pairs, n), step=step)
      tf.summary.image("prior_samples", tb.image_grid(samples, n), step=step)
    self._last_image_step = step

  def on_epoch_end(self, epoch, logs=None):
    result = self.evaluate()
    self.print_fn(
        f"step {global_step(self.model)}: validation -ELBO "
        f"{result['neg_elbo']:.3f} nats ({result['bits_per_dim']:.4f} bits/dim), "
        f"rate {result['rate']:.3f}, distortion {result['distortion']:.3f}, "
        f"active units {result['active_units']}/{result['latent_dim']} "
        f"[{time.time() - self._start:.0f}s]")
