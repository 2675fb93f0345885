"""tf.data pipelines: compact storage until the batch is made, floats after.

Training: shuffle (re-shuffled each epoch, seeded) -> repeat -> batch (full
batches only) -> map(to float, scale, optional dynamic binarisation, parallel)
-> prefetch. The images stay uint8 until the `map` after `batch`, so memory and
host-to-device traffic stay at 1 byte per pixel.
"""

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def _to_float(scale):
  def convert(images):
    return tf.cast(images, tf.float32) * scale
  return convert


def _binarize(scale, seed):
  """Fresh Bernoulli sample of every pixel at every step.

  The noise is a pure function of (seed, batch index), so a run is
  reproducible whatever tf.data's parallelism, and a resumed run (which skips
  the consumed batches) sees the same samples as an uninterrupted one.
  """
  def convert(index, images):
    x = tf.cast(images, tf.float32) * scale
    noise = tf.random.stateless_uniform(
        tf.shape(x), seed=tf.stack([tf.constant(seed, tf.int64), index]))
    return tf.cast(noise < x, tf.float32)
  return convert


def train_dataset(data, batch_size, seed, binarization="none"):
  """Infinite training batches of float32 images in [0, 1]."""
  dynamic = binarization == "dynamic"
  if data.stream is not None:
    ds = data.stream.tf_dataset(batch_size, shuffle_seed=seed).repeat()
    # Full batches only, as below: tf.distribute splits a batch evenly across
    # replicas and the loss scaling assumes it.
    ds = ds.filter(lambda images: tf.shape(images)[0] == batch_size)
  else:
    n = data.train.shape[0]
    images = tf.data.Dataset.from_tensor_slices(data.train)

    def shuffled_batches(_):
      ds = images.shuffle(n, seed=seed, reshuffle_each_iteration=True)
      return ds.repeat().batch(batch_size, drop_remainder=True)

    # Every iterator of the result yields the same batches. `shuffle`'s seed
    # generator is shared by all iterators of one dataset object, so its
    # second iterator would get another order; Keras makes one to peek at a
    # batch (`_maybe_symbolic_build`) before training under a tf.distribute
    # strategy, and a --strategy=mirrored run then trained on other batches
    # than the default run. Built inside `flat_map`, the shuffle (and its seed
    # generator) is made afresh for each iterator, with the same seeds, so
    # every iterator replays the same order.
    ds = tf.data.Dataset.range(1).flat_map(shuffled_batches)
  if dynamic:
    ds = ds.enumerate().map(_binarize(data.scale, seed),
                            num_parallel_calls=AUTOTUNE)
  else:
    ds = ds.map(_to_float(data.scale), num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def eval_dataset(images, scale, batch_size, binarization="none", seed=0):
  """One deterministic pass over `images` (last batch may be smaller).

  With `binarization="dynamic"` (how the model was trained) the evaluation
  data are binarised too, with a fixed sample, so that every evaluation of a
  Bernoulli model scores the same binary data.
  """
  ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
  if binarization == "dynamic":
    ds = ds.enumerate().map(_binarize(scale, seed), num_parallel_calls=AUTOTUNE)
  else:
    ds = ds.map(_to_float(scale), num_parallel_calls=AUTOTUNE)
  return ds.cache().prefetch(AUTOTUNE)
