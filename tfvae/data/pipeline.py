"""tf.data pipelines: compact storage until the batch is made, floats after.

Training: shuffle (re-shuffled each epoch, seeded) -> repeat -> batch (full
batches only) -> map(to float, scale, optional dynamic binarisation, parallel)
-> prefetch. The images stay uint8 until the `map` after `batch`, so memory and
host-to-device traffic stay at 1 byte per pixel.
"""

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def _to_float(scale, dynamic_binarization, seed):
  def convert(images):
    x = tf.cast(images, tf.float32) * scale
    if dynamic_binarization:
      # Fresh Bernoulli sample of every pixel at every step.
      x = tf.cast(tf.random.uniform(tf.shape(x), seed=seed) < x, tf.float32)
    return x
  return convert


def train_dataset(data, batch_size, seed, binarization="none"):
  """Infinite training batches of float32 images in [0, 1]."""
  dynamic = binarization == "dynamic"
  if data.stream is not None:
    ds = data.stream.tf_dataset(batch_size, shuffle_seed=seed).repeat()
  else:
    n = data.train.shape[0]
    ds = tf.data.Dataset.from_tensor_slices(data.train)
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)
  ds = ds.map(_to_float(data.scale, dynamic, seed), num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def eval_dataset(images, scale, batch_size):
  """One deterministic pass over `images` (last batch may be smaller)."""
  ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
  ds = ds.map(_to_float(scale, False, None), num_parallel_calls=AUTOTUNE)
  return ds.cache().prefetch(AUTOTUNE)
