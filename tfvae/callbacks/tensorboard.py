"""TensorBoard output: writers, images, and truncation of events on resume.

`tensorboard --logdir runs/` shows each run with `train` (per-step batch values)
and `validation` (exact data-set averages at every evaluation) sub-runs.
"""

import glob
import os

import numpy as np
import tensorflow as tf

from tfvae.runs import files


def make_writers(logdir):
  return {name: tf.summary.create_file_writer(os.path.join(logdir, name))
          for name in ("train", "validation")}


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
  with writer.as_default():
    tf.summary.text(name, f"```\n{text}\n```", step=step)
  writer.flush()


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
