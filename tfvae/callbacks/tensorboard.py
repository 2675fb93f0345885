"""TensorBoard output: writers, training and evaluation summaries, truncation.

`tensorboard --logdir runs/` shows each run with `train` (per-step batch values)
and `validation` (exact data-set averages at every evaluation) sub-runs; an
evaluation (`tfvae.evaluation`) writes its own page with the same writers.
The `write_*` functions other than `write_text` write to the default summary
writer (inside `writer.as_default(step=...)`); `step=None` takes its step.
The sentence VAE's text summaries are `tfvae.callbacks.text`'s.
"""

import glob
import os

import numpy as np
import tensorflow as tf

from tfvae.metrics import traversals
from tfvae.runs import files

RECONSTRUCTIONS = "inputs_top_reconstructions_bottom"


def make_writers(logdir):
  return {name: file_writer(os.path.join(logdir, name))
          for name in ("train", "validation")}


def file_writer(directory):
  """A summary writer of event files in `directory`."""
  return tf.summary.create_file_writer(directory)


def noop_writer():
  """A writer that writes nothing (a run that logged this step already)."""
  return tf.summary.create_noop_writer()


def is_image_shape(event_shape):
  """True for events TensorBoard can show as images: [H, W, 1 or 3]."""
  return len(event_shape) == 3 and event_shape[-1] in (1, 3)


def image_grid(images, columns):
  """[N, H, W, C] floats in [0, 1] -> [1, rows*H, columns*W, C] grid."""
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  n, h, w, c = images.shape
  rows = int(np.ceil(n / columns))
  grid = np.zeros((rows * h, columns * w, c), np.float32)
  for i in range(n):
    r, col = divmod(i, columns)
    grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
  return grid[None]


def write_text(writer, name, text, step=0):
  """`text` as a preformatted block under `name`, flushed."""
  with writer.as_default():
    tf.summary.text(name, f"```\n{text}\n```", step=step)
  writer.flush()


def write_scalars(values, step=None):
  """One scalar per `{tag: value}` item."""
  for name, value in values.items():
    tf.summary.scalar(name, value, step=step)


def write_kl_per_dim(kl_per_dim, step=None):
  """Each latent dimension's KL as the scalar `kl_per_dim/<jj>`."""
  for j, value in enumerate(kl_per_dim):
    tf.summary.scalar(f"kl_per_dim/{j:02d}", value, step=step)


def write_histograms(values, step=None):
  """One histogram per `{tag: values}` item."""
  for name, value in values.items():
    tf.summary.histogram(name, value, step=step)


def write_reconstructions(model, images, step=None):
  """The images (top row) above the model's reconstructions (bottom row)."""
  recon = model.reconstruct(tf.convert_to_tensor(images)).numpy()
  pairs = np.concatenate([images, recon], axis=0)
  tf.summary.image(RECONSTRUCTIONS, image_grid(pairs, len(images)),
                   step=step)


def write_image_row(name, images, step=None):
  """The images side by side as one image `name`."""
  tf.summary.image(name, image_grid(images, len(images)), step=step)


def write_traversals(model, images, kl_per_dim, step,
                     num_inputs=traversals.NUM_TRAVERSAL_INPUTS,
                     name="latent_traversals"):
  """The latent traversals (`tfvae.metrics.traversals`) of the first
  `num_inputs` images, one image per input; returns the dimensions shown."""
  if kl_per_dim is None:
    kl_per_dim = np.zeros(model.latent_dim)
  grids, dims = traversals.model_traversals(
      model, np.asarray(images)[:num_inputs], kl_per_dim)
  limit = traversals.TRAVERSAL_LIMIT
  description = (
      f"Rows: latent dimensions {', '.join(map(str, dims))} (sorted by KL, "
      f"largest first); columns: z_j from -{limit:g} to {limit:g}, other "
      "coordinates at the input's posterior mean.")
  tf.summary.image(name, grids, step=step, max_outputs=len(grids),
                   description=description)
  return dims


def write_hparams_sessions(directory, hparams, metrics, sessions):
  """TensorBoard HParams: the experiment's `hparams` and `metrics` (names) in
  `directory`, and one session per (trial id, {hparam: value}, {metric:
  value}, step) of `sessions` in `directory/<trial id>`."""
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=import-outside-toplevel
  with tf.summary.create_file_writer(directory).as_default():
    hp.hparams_config(hparams=[hp.HParam(name) for name in hparams],
                      metrics=[hp.Metric(key) for key in metrics])
  for trial_id, values, scalars, step in sessions:
    writer = tf.summary.create_file_writer(os.path.join(directory, trial_id))
    with writer.as_default():
      hp.hparams(values, trial_id=trial_id)
      for key, value in scalars.items():
        tf.summary.scalar(key, value, step=step)
    writer.close()


def truncate_events(logdir, max_step):
  """Drops events with step > max_step from every event file under logdir.

  A run killed after its last checkpoint logged steps that the resumed run will
  log again; removing them keeps TensorBoard curves free of duplicated steps.
  Each file is rewritten to a temporary file and renamed.
  """
  from tensorboard.compat.proto import event_pb2  # pylint: disable=import-outside-toplevel
  for path in glob.glob(os.path.join(logdir, "*", "events.out.tfevents.*")):
    kept, dropped = [], 0
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      if event.step > max_step and event.WhichOneof("what") != "file_version":
        dropped += 1
      else:
        kept.append(record.numpy())
    if not dropped:
      continue
    with files.atomic_path(path) as tmp:
      with tf.io.TFRecordWriter(tmp) as writer:
        for record in kept:
          writer.write(record)
