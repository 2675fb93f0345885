"""Latent traversals: what each latent dimension does to the decoded image.

For an input x with posterior mean mu = E_q[z | x] and a latent dimension j,
the traversal decodes z^(t) = mu with z_j replaced by t, for t on an evenly
spaced grid from -3 to 3 (the prior N(0, 1) puts 99.7% of its mass there),
and shows the decoder's mean E[x | z^(t)]. Dimensions are ordered by their
data-averaged KL (largest first), so informative dimensions come first and
collapsed ones (KL ~ 0, which should decode the same image along the whole row)
last. This is the visual check of Higgins et al. (2017, beta-VAE, Fig. 1 and 7).

Layout of one traversal image: one row per latent dimension (in KL order), one
column per value t. Small images (e.g. the 8x8 digits) are enlarged by pixel
repetition so TensorBoard shows them at a readable size. TensorBoard writing
is `tfvae.callbacks.tensorboard.write_traversals`.
"""

import numpy as np
import tensorflow as tf

TRAVERSAL_LIMIT = 3.0
TRAVERSAL_STEPS = 7
NUM_TRAVERSAL_INPUTS = 3
# Tiles smaller than this many pixels are enlarged by an integer factor.
MIN_TILE_PIXELS = 32


def dimension_order(kl_per_dim):
  """Latent dimensions sorted by KL, largest first (ties keep index order)."""
  kl = np.asarray(kl_per_dim, np.float64)
  return [int(j) for j in np.argsort(-kl, kind="stable")]


def traversal_latents(z_mean, dims, values):
  """Latent codes of the traversals: [inputs, len(dims), len(values), J].

  Entry (n, r, c) is z_mean[n] with coordinate dims[r] set to values[c].
  """
  z_mean = np.asarray(z_mean, np.float32)
  values = np.asarray(values, np.float32)
  codes = np.repeat(z_mean[:, None, None, :], len(dims), axis=1)
  codes = np.repeat(codes, len(values), axis=2)
  for r, j in enumerate(dims):
    codes[:, r, :, j] = values[None, :]
  return codes


def enlarge(images, min_pixels=MIN_TILE_PIXELS):
  """Repeats pixels of [N, H, W, C] images until H and W reach min_pixels."""
  height = images.shape[1]
  factor = max(1, int(np.ceil(min_pixels / max(1, height))))
  if factor == 1:
    return images
  return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def tile_grid(images, rows, columns, gap=1):
  """[rows * columns, H, W, C] in [0, 1] -> one [H', W', C] image, with gaps.

  The gaps between tiles are mid-grey so black and white images both show them.
  """
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  _, h, w, c = images.shape
  grid = np.full((rows * h + (rows - 1) * gap,
                  columns * w + (columns - 1) * gap, c), 0.5, np.float32)
  for i in range(rows * columns):
    r, col = divmod(i, columns)
    top, left = r * (h + gap), col * (w + gap)
    grid[top:top + h, left:left + w] = images[i]
  return grid


def latent_traversals(decode_mean, z_mean, kl_per_dim,
                      num_steps=TRAVERSAL_STEPS, limit=TRAVERSAL_LIMIT,
                      max_dims=None):
  """Traversal images of every input, dimensions sorted by KL.

  Args:
    decode_mean: z [n, J] -> decoded mean images [n, H, W, C] in [0, 1].
    z_mean: posterior means of the inputs, [N, J].
    kl_per_dim: data-averaged KL per dimension, [J] (sets the row order).
    num_steps: values per row, evenly spaced on [-limit, limit].
    limit: the traversal covers [-limit, limit] (prior standard deviations).
    max_dims: show only this many dimensions (the largest-KL ones).

  Returns:
    (images [N, H', W', C] in [0, 1], one traversal grid per input,
     the dimension shown in each row).
  """
  dims = dimension_order(kl_per_dim)
  if max_dims is not None:
    dims = dims[:max_dims]
  values = np.linspace(-limit, limit, num_steps)
  codes = traversal_latents(z_mean, dims, values)
  num_inputs = codes.shape[0]
  flat = codes.reshape(-1, codes.shape[-1])
  decoded = np.asarray(decode_mean(tf.convert_to_tensor(flat)), np.float32)
  decoded = enlarge(decoded)
  per_input = decoded.reshape((num_inputs, len(dims) * num_steps) +
                              decoded.shape[1:])
  grids = np.stack([tile_grid(tiles, len(dims), num_steps)
                    for tiles in per_input])
  return grids, dims


def model_traversals(model, images, kl_per_dim, **kwargs):
  """`latent_traversals` of a tfvae model around the images' posterior means."""
  z_mean, _ = model.encode(tf.convert_to_tensor(images, tf.float32))
  return latent_traversals(model.decode_mean, z_mean.numpy(), kl_per_dim,
                           **kwargs)
