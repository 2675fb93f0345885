"""Stateless seeds of evaluation: every random draw a pure function of its seed.

A stateful generator (`tf.random.normal`) draws from a stream whose position
depends on everything the process did before, so the same checkpoint
evaluated after a resume, in another process or at another time gives other
Monte Carlo noise. Here every draw of an evaluation is
`tf.random.stateless_*` with a seed derived from the evaluation's seed and
the draw's place in it: seed_path = fold_in(...fold_in(root, a)..., z) with
Philox's fold-in (`tf.random.experimental.stateless_fold_in`), so the numbers
are a function of (weights, data, seed) alone (Salmon et al. 2011, "Parallel
random numbers: as easy as 1, 2, 3", for counter-based generators).

A training run evaluates step t with the root seed `for_step(run_seed, t)`.

Training noise that must be the same with and without XLA
(`philox_normal`): `tf.random.stateless_normal` turns Philox bits into
normals differently inside XLA, but the bits agree, so the top 23 bits m of
each give u = (m + 0.5) 2^-23 in (0, 1), exact in float32 (24 bits would
round the largest u to 1.0, and ndtri(1) = inf), and z = ndtri(u).
"""

import tensorflow as tf

# The purposes of draws, folded in so that they never share a stream.
DISTORTION = 1
EXTRA_DISTORTION = 2
IWAE = 3
MUTUAL_INFORMATION = 4
KL_PARTS = 5


def root(seed):
  """A stateless seed (shape [2], int64) from an int or a pair of ints."""
  seed = tf.convert_to_tensor(seed)
  if seed.shape.rank == 0:
    return tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
  if seed.shape != (2,):
    raise ValueError(f"seed must be an int or a pair of ints, got shape "
                     f"{seed.shape}")
  return tf.cast(seed, tf.int64)


def _fold_eagerly(seed, path):
  for value in path:
    seed = tf.cast(tf.random.experimental.stateless_fold_in(
        seed, value, alg="philox"), tf.int64)
  return seed


# Called eagerly: one call instead of ~20 eager ops per fold, traced once per
# path length. Python ints fold in as int32 (`tf.convert_to_tensor`), so the
# compiled path takes int32 values and gives the same seeds bit for bit.
_fold_compiled = tf.function(
    lambda seed, path: _fold_eagerly(seed, tf.unstack(path)), autograph=False)
_INT32_MAX = 2**31 - 1


def fold(seed, *path):
  """The seed of the draw at `path` (ints) below `seed` (int or pair)."""
  seed = root(seed)
  path = [int(value) for value in path]
  if not path:
    return seed
  # Inside a graph (a model's step) the ops are graph ops already.
  if tf.executing_eagerly() and all(
      -_INT32_MAX - 1 <= value <= _INT32_MAX for value in path):
    return _fold_compiled(seed, tf.constant(path, tf.int32))
  return _fold_eagerly(seed, path)


def for_step(run_seed, step):
  """The root seed of the evaluation of a run's weights at `step`."""
  return fold(run_seed, step)


def normal(shape, seed, dtype=tf.float32):
  """N(0, 1) draws, stateless when `seed` is given (else the global stream)."""
  if seed is None:
    return tf.random.normal(shape, dtype=dtype)
  return tf.random.stateless_normal(shape, seed=root(seed), dtype=dtype,
                                    alg="philox")


def bits_to_unit_interval(bits):
  """uint32 random bits -> float32 u strictly inside (0, 1): the top 23
  bits m give (m + 0.5) 2^-23 <= 1 - 2^-24, exact in float32."""
  return (tf.cast(tf.bitwise.right_shift(bits, 9), tf.float32) + 0.5) * 2.0**-23


def philox_normal(shape, seed, dtype):
  """Standard normal noise that is the same with and without XLA: ndtri of
  `bits_to_unit_interval` of stateless Philox bits (`seed`: shape [2])."""
  bits = tf.random.stateless_uniform(shape, seed=seed, minval=None,
                                     maxval=None, dtype=tf.uint32, alg="philox")
  uniform = bits_to_unit_interval(bits)
  return tf.cast(tf.math.ndtri(uniform), dtype)
