"""dSprites-like ground-truth data: a procedural renderer and a reader for the original file.

dSprites (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework"; data set at github.com/deepmind/dsprites-dataset) holds every
combination of five generative factors as a 64x64 binary image:

    factor        size  values
    shape            3  square, ellipse, heart        (dSprites `latents_values`: 1, 2, 3)
    scale            6  linspace(0.5, 1.0, 6)
    orientation     40  linspace(0, 2 pi, 40)          (both ends included: first == last image)
    posX            32  linspace(0, 1, 32)
    posY            32  linspace(0, 1, 32)

The grid is ordered with posY varying fastest, so the image index of a factor tuple f is

    index = f . [245760, 40960, 1024, 32, 1],    NUM_IMAGES = 3 * 6 * 40 * 32 * 32 = 737280.

`DSpritesLike` renders this grid procedurally. It follows the dSprites factor grid and order
exactly but is NOT pixel-identical to the original (the original sprite size and margins are
not documented). Its geometry:

* Every shape lives in a local frame where it fits inside the unit disc: a square of half-side
  1/sqrt(2), an ellipse with semi-axes 1 and 1/2 (elongated, so rotation is visible) and the
  implicit heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, shifted down by 0.25 and shrunk by 1.26 (its
  farthest point from (0, 0.25) is at distance ~1.256).
* At scale s the unit disc is SPRITE_RADIUS * s = 14.2 s pixels, so a sprite never leaves a
  30x30-pixel patch (pixel centres lie at -14.5 ... 14.5 from the patch centre; the patch's
  outer ring of pixels is always empty). The radius makes the square's half-side 10.04 s
  pixels: each scale step (0.1) adds at least one pixel to it, so scale always changes the
  image, also for the axis-aligned square (with a 10-pixel radius, scales 0.5 and 0.6 of that
  square rasterise identically).
* A pixel is on when its centre, mapped into the local frame (inverse rotation by the
  orientation, counter-clockwise on screen, then division by the radius), lies in the shape.
* The patch is pasted at integer offset round(pos * (64 - 30)) = round(pos * 34) along columns
  for posX and rows for posY (rows grow downward), so sprite centres span pixels 15 ... 49.
  The 32 offsets are distinct (step ~1.1 px > 1) and every sprite stays inside the canvas
  with a margin of at least one pixel.

Because the local mask depends only on (shape, scale, orientation), the 3 * 6 * 40 = 720 masks
are rasterised once (vectorised numpy) and rendering is a vectorised paste: deterministic and
fast, no randomness anywhere.

Memory: the full set as uint8 is 737280 * 64 * 64 bytes ~ 3 GB and as float32 ~ 12 GB.
`iterate` and `tf_dataset` never hold more than one batch of uint8 images (4096 bytes per
image) at a time.

`DSpritesNpz` reads the original `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` with the same
interface. Both classes implement the ground-truth-data interface of disentanglement_lib
(Locatello et al. 2019): `num_factors`, `factors_num_values`, `observation_shape`,
`sample_factors(n, rng)` and `sample_observations_from_factors(factors, rng)`.
"""

# Size: the procedural renderer and the npz reader share the factor layout
# and the ground-truth interface of the metrics.

import os
import struct
import zipfile

import numpy as np

from tfvae.errors import ConfigError, DataError

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
# Real-valued grid, as dSprites' `latents_values` without its constant colour column.
FACTOR_VALUES = (
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
NUM_IMAGES = 737280
# Index strides of each factor (posY fastest): [245760, 40960, 1024, 32, 1].
FACTOR_BASES = np.array(
    [int(np.prod(FACTOR_SIZES[i + 1:])) for i in range(len(FACTOR_SIZES))], dtype=np.int64)

IMAGE_SIZE = 64
SHAPE_NAMES = ("square", "ellipse", "heart")
SPRITE_RADIUS = 14.2  # Pixels covered by the unit disc of the local frame at scale 1.
PATCH_SIZE = 30  # Holds the disc of radius SPRITE_RADIUS plus an empty outer ring.
HEART_CENTRE_Y = 0.25
HEART_RADIUS = 1.26

_NPZ_IMAGES_KEY = "imgs"
_NPZ_FACTORS_KEY = "latents_classes"


def _shape_membership(shape_index, u, v):
  """Whether local-frame points (u, v), v pointing up, lie inside shape `shape_index`."""
  if shape_index == 0:  # Square with its corners on the unit circle.
    half_side = 1.0 / np.sqrt(2.0)
    return (np.abs(u) <= half_side) & (np.abs(v) <= half_side)
  if shape_index == 1:  # Ellipse, semi-axes 1 (along u) and 1/2.
    return u**2 + (v / 0.5)**2 <= 1.0
  # Heart, rescaled so it fits in the unit disc around its chosen centre.
  x = u * HEART_RADIUS
  y = v * HEART_RADIUS + HEART_CENTRE_Y
  return (x**2 + y**2 - 1.0)**3 - x**2 * y**3 <= 0.0


def _rasterise_sprite_masks():
  """All 720 sprite masks, uint8 [3, 6, 40, PATCH_SIZE, PATCH_SIZE]."""
  centres = np.arange(PATCH_SIZE) + 0.5 - PATCH_SIZE / 2.0
  # Screen x grows with the column, screen y (up) shrinks with the row.
  screen_x = centres[None, :]
  screen_y = -centres[:, None]
  # Reducing modulo 2 pi makes orientations 0 and 2 pi bit-identical.
  angles = np.mod(FACTOR_VALUES[2], 2.0 * np.pi)[None, :, None, None]
  scales = FACTOR_VALUES[1][:, None, None, None]
  cos, sin = np.cos(angles), np.sin(angles)
  # Inverse rotation (by -angle) and inverse scaling, broadcast to [scale, orient, row, col].
  u = (cos * screen_x + sin * screen_y) / (SPRITE_RADIUS * scales)
  v = (-sin * screen_x + cos * screen_y) / (SPRITE_RADIUS * scales)
  masks = np.stack([_shape_membership(s, u, v) for s in range(FACTOR_SIZES[0])])
  return masks.astype(np.uint8)


def _position_offsets():
  """Integer top-left offsets of the patch for the 32 grid positions."""
  return np.rint(FACTOR_VALUES[3] * (IMAGE_SIZE - PATCH_SIZE)).astype(np.int64)


def _as_index_array(indices, num_images):
  """Validates image indices and returns them as a 1-D int64 array."""
  indices = np.asarray(indices)
  if indices.ndim == 0:
    indices = indices[None]
  if indices.size and not np.issubdtype(indices.dtype, np.integer):
    raise DataError(f"image indices must be integers, got dtype {indices.dtype}")
  indices = indices.astype(np.int64).reshape(-1)
  if indices.size and (indices.min() < 0 or indices.max() >= num_images):
    raise DataError(
        f"image indices must lie in [0, {num_images}), got [{indices.min()}, {indices.max()}]")
  return indices


def _as_factor_array(factors):
  """Validates factor tuples against the dSprites grid; returns int64 [n, 5]."""
  factors = np.asarray(factors)
  if factors.ndim == 1:
    factors = factors[None, :]
  if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
    raise DataError(f"factors must have shape [n, {len(FACTOR_SIZES)}], got {factors.shape}")
  if factors.size and not np.issubdtype(factors.dtype, np.integer):
    raise DataError(f"factors must be integer class indices, got dtype {factors.dtype}")
  factors = factors.astype(np.int64)
  if factors.size and (np.any(factors < 0) or np.any(factors >= np.array(FACTOR_SIZES))):
    raise DataError(f"factors must lie in [0, size) for sizes {FACTOR_SIZES}")
  return factors


def _checked_batch_size(batch_size):
  if int(batch_size) != batch_size or batch_size < 1:
    raise ConfigError(f"batch_size must be a positive integer, got {batch_size}")
  return int(batch_size)


class _DSpritesInterface:
  """Shared ground-truth-data interface; subclasses provide indexing and `images`."""

  @property
  def num_factors(self):
    return len(FACTOR_SIZES)

  @property
  def factors_num_values(self):
    return list(FACTOR_SIZES)

  @property
  def observation_shape(self):
    return (IMAGE_SIZE, IMAGE_SIZE, 1)

  @property
  def num_images(self):
    raise NotImplementedError

  def index_to_factors(self, indices):
    raise NotImplementedError

  def factors_to_index(self, factors):
    raise NotImplementedError

  def images(self, indices):
    raise NotImplementedError

  def sample_factors(self, num, random_state):
    """Draws `num` factor tuples, each factor uniform on its grid; int64 [num, 5]."""
    return np.stack(
        [random_state.randint(size, size=num) for size in FACTOR_SIZES], axis=1).astype(np.int64)

  def sample_observations_from_factors(self, factors, random_state):
    """Images of the given factor tuples, uint8 [n, 64, 64, 1]; `random_state` is unused."""
    del random_state  # Rendering and lookup are deterministic.
    return self.images(self.factors_to_index(factors))

  def iterate(self, batch_size, indices=None):
    """Streams (uint8 images [b, 64, 64, 1], factors int64 [b, 5]) batch by batch.

    Args:
      batch_size: images per batch; only one batch is held in memory at a time.
      indices: optional 1-D image indices to stream, in that order; all images by default.

    Yields:
      Tuples (images, factors) of at most `batch_size` rows.
    """
    batch_size = _checked_batch_size(batch_size)
    if indices is not None:
      indices = _as_index_array(indices, self.num_images)
    total = self.num_images if indices is None else len(indices)
    for start in range(0, total, batch_size):
      stop = min(start + batch_size, total)
      batch = np.arange(start, stop) if indices is None else indices[start:stop]
      yield self.images(batch), self.index_to_factors(batch)

  def tf_dataset(self, batch_size, indices=None, shuffle_seed=None):
    """A `tf.data.Dataset` of uint8 image batches [b, 64, 64, 1].

    Only index batches flow through tf.data; each is turned into images by
    `tf.numpy_function`, so no more than a few batches of images exist at once.

    The index batches are made by tf.data itself, not by
    `tf.data.Dataset.from_generator`: TensorFlow's generator dataset sets
    glibc's `M_TRIM_THRESHOLD` for the whole process, which also freezes
    malloc's mmap threshold at 128 KiB, so every larger tensor of every
    training step (the conv model's activations) was then mapped and
    unmapped afresh, page faults and all (docs/performance.md).

    Args:
      batch_size: images per batch (the last batch may be smaller).
      indices: optional 1-D image indices to use; all images by default.
      shuffle_seed: None keeps index order; an int shuffles the indices with a new,
        reproducible permutation on every pass over the data set.

    Returns:
      A `tf.data.Dataset` yielding uint8 tensors of shape [None, 64, 64, 1].
    """
    import tensorflow as tf  # Imported here: the rest of the module is pure numpy.

    batch_size = _checked_batch_size(batch_size)
    all_indices = (None if indices is None else _as_index_array(indices, self.num_images))
    total = self.num_images if all_indices is None else len(all_indices)

    if shuffle_seed is None:
      if all_indices is None:
        index_ds = tf.data.Dataset.range(total)
      else:
        index_ds = tf.data.Dataset.from_tensor_slices(all_indices)
    else:
      shuffle_rng = np.random.RandomState(shuffle_seed)

      def next_order():
        # Called once per pass, so each epoch draws the next permutation.
        order = shuffle_rng.permutation(total)
        return (order if all_indices is None else all_indices[order]).astype(np.int64)

      def draw_order(_):
        order = tf.numpy_function(next_order, [], tf.int64, stateful=True)
        order.set_shape((total,))
        return order

      index_ds = tf.data.Dataset.range(1).map(draw_order).flat_map(
          tf.data.Dataset.from_tensor_slices)

    def load_images(batch):
      images = tf.numpy_function(self.images, [batch], tf.uint8, stateful=False)
      images.set_shape((None,) + self.observation_shape)
      return images

    return index_ds.batch(batch_size).map(load_images).prefetch(tf.data.AUTOTUNE)


class DSpritesLike(_DSpritesInterface):
  """Procedural dSprites: same factor grid and index order, NOT pixel-identical.

  All 737280 images are available by index but none is stored: `images` pastes one of 720
  precomputed 30x30 sprite masks at the integer offset of its position (see the module
  docstring for the geometry). Rendering is deterministic.
  """

  def __init__(self):
    self._masks = _rasterise_sprite_masks()
    self._offsets = _position_offsets()

  @property
  def num_images(self):
    return NUM_IMAGES

  @property
  def sprite_masks(self):
    """The 720 local sprite masks, uint8 [3, 6, 40, 30, 30] (a copy)."""
    return self._masks.copy()

  def index_to_factors(self, indices):
    """Factor class indices int64 [n, 5] of image indices [n]."""
    indices = _as_index_array(indices, NUM_IMAGES)
    return (indices[:, None] // FACTOR_BASES[None, :]) % np.array(FACTOR_SIZES)[None, :]

  def factors_to_index(self, factors):
    """Image indices int64 [n] of factor class indices [n, 5]."""
    return _as_factor_array(factors) @ FACTOR_BASES

  def render(self, factors):
    """Rasterises factor tuples [n, 5] into uint8 images [n, 64, 64, 1] with values {0, 1}."""
    factors = _as_factor_array(factors)
    num = len(factors)
    canvas = np.zeros((num, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.uint8)
    if num == 0:
      return canvas
    sprites = self._masks[factors[:, 0], factors[:, 1], factors[:, 2]]
    patch = np.arange(PATCH_SIZE)
    rows = self._offsets[factors[:, 4]][:, None, None] + patch[None, :, None]
    cols = self._offsets[factors[:, 3]][:, None, None] + patch[None, None, :]
    canvas[np.arange(num)[:, None, None], rows, cols, 0] = sprites
    return canvas

  def images(self, indices):
    """Images uint8 [n, 64, 64, 1] of image indices [n]."""
    return self.render(self.index_to_factors(indices))


def _memory_map_npz_member(path, key):
  """Memory-maps array `key` of an .npz if stored uncompressed; None otherwise.

  `np.load(..., mmap_mode=...)` maps plain .npy files only; in an .npz each array is a zip
  member, which can be mapped in place when it was written without compression (`np.savez`),
  because its .npy bytes are then contiguous in the file.
  """
  with zipfile.ZipFile(path) as archive:
    try:
      info = archive.getinfo(key + ".npy")
    except KeyError:
      return None
    if info.compress_type != zipfile.ZIP_STORED:
      return None
  with open(path, "rb") as stream:
    stream.seek(info.header_offset)
    local_header = stream.read(30)
    if local_header[:4] != b"PK\x03\x04":
      return None
    name_length, extra_length = struct.unpack("<HH", local_header[26:30])
    stream.seek(info.header_offset + 30 + name_length + extra_length)
    shape, fortran_order, dtype = _read_npy_header(stream)
    if dtype.hasobject:
      return None
    offset = stream.tell()
  return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                   order="F" if fortran_order else "C")


class DSpritesNpz(_DSpritesInterface):
  """The original dSprites file behind the same interface as `DSpritesLike`.

  Reads `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`: `imgs` uint8 [N, 64, 64] and
  `latents_classes` int [N, 6], whose column 0 (colour, constant) is dropped. Image index i is
  row i of the file. Memory: an uncompressed .npz (`np.savez`) is memory-mapped, so images are
  read from disk per batch; a compressed one, like the published file, cannot be mapped and
  its `imgs` (3 GB for the full set) is decompressed into memory on first use (re-save it with
  `np.savez` to map it).

  Any consistent first dimension N >= 1 is accepted (a subset of the grid, e.g. for tests),
  as long as each factor tuple occurs at most once. With N < 737280 `sample_factors` draws
  uniformly among the tuples in the file, so that sampled observations always exist;
  `sample_observations_from_factors` raises `DataError` for a tuple the file lacks (metrics
  that fix one factor and resample the rest need the full grid).
  """

  def __init__(self, path):
    self._path = os.fspath(path)
    if not os.path.isfile(self._path):
      raise DataError(f"dSprites file not found: {self._path}")
    try:
      factors, images, image_shape, image_dtype = _open_npz(self._path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
      raise DataError(f"cannot read dSprites file {self._path}: {error}") from error

    num = image_shape[0] if image_shape else 0
    if len(image_shape) != 3 or tuple(image_shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE) or num < 1:
      raise DataError(f"'{_NPZ_IMAGES_KEY}' must have shape [N, 64, 64], got {image_shape}")
    if image_dtype not in (np.uint8, np.bool_):
      raise DataError(f"'{_NPZ_IMAGES_KEY}' must be uint8 or bool, got {image_dtype}")
    if factors.shape != (num, len(FACTOR_SIZES) + 1):
      raise DataError(f"'{_NPZ_FACTORS_KEY}' must have shape [{num}, 6] to match "
                      f"'{_NPZ_IMAGES_KEY}', got {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
      raise DataError(f"'{_NPZ_FACTORS_KEY}' must be integer, got {factors.dtype}")
    factors = factors[:, 1:].astype(np.int64)  # Drop the constant colour factor.
    if np.any(factors < 0) or np.any(factors >= np.array(FACTOR_SIZES)):
      raise DataError(f"'{_NPZ_FACTORS_KEY}' has classes outside the dSprites grid "
                      f"{FACTOR_SIZES}")
    codes = factors @ FACTOR_BASES
    self._row_order = np.argsort(codes, kind="stable")
    self._sorted_codes = codes[self._row_order]
    if np.any(np.diff(self._sorted_codes) == 0):
      raise DataError(f"'{_NPZ_FACTORS_KEY}' repeats a factor tuple")
    self._factors = factors
    self._images = images
    self._num = num
    self._canonical = num == NUM_IMAGES and np.array_equal(codes, np.arange(NUM_IMAGES))

  @property
  def num_images(self):
    return self._num

  @property
  def is_full_grid(self):
    """Whether the file holds every dSprites factor tuple."""
    return self._num == NUM_IMAGES

  def _image_array(self):
    if self._images is None:
      # Compressed member: decompressed on first use, which keeps construction cheap.
      with np.load(self._path, allow_pickle=False) as archive:
        self._images = archive[_NPZ_IMAGES_KEY]
    return self._images

  def index_to_factors(self, indices):
    """Factor class indices int64 [n, 5] of file rows [n]."""
    return self._factors[_as_index_array(indices, self._num)]

  def factors_to_index(self, factors):
    """File rows int64 [n] of factor class indices [n, 5]; DataError if a tuple is absent."""
    codes = _as_factor_array(factors) @ FACTOR_BASES
    if self._canonical:
      return codes
    positions = np.searchsorted(self._sorted_codes, codes)
    positions = np.minimum(positions, self._num - 1)
    found = self._sorted_codes[positions] == codes
    if not np.all(found):
      missing = (codes[~found][0] // FACTOR_BASES) % np.array(FACTOR_SIZES)
      raise DataError(f"factor tuple {missing.tolist()} is not in {self._path}")
    return self._row_order[positions]

  def images(self, indices):
    """Images uint8 [n, 64, 64, 1] of file rows [n]."""
    indices = _as_index_array(indices, self._num)
    batch = np.asarray(self._image_array()[indices], dtype=np.uint8)
    return batch[..., None]

  def sample_factors(self, num, random_state):
    """Uniform factor tuples int64 [num, 5]; on a partial file, uniform among its rows."""
    if self.is_full_grid:
      return super().sample_factors(num, random_state)
    return self._factors[random_state.randint(self._num, size=num)]


def _read_npy_header(stream):
  """(shape, fortran_order, dtype) of the .npy stream, left positioned at the data."""
  version = np.lib.format.read_magic(stream)
  if version == (1, 0):
    return np.lib.format.read_array_header_1_0(stream)
  if version == (2, 0):
    return np.lib.format.read_array_header_2_0(stream)
  raise ValueError(f".npy format version {version} is not supported")


def _npz_member_header(path, key):
  """(shape, dtype) of array `key` in an .npz without decompressing its data."""
  with zipfile.ZipFile(path) as archive:
    with archive.open(key + ".npy") as stream:
      shape, _, dtype = _read_npy_header(stream)
  return shape, dtype


def _open_npz(path):
  """Reads the dSprites keys of an .npz.

  Returns:
    (latents_classes array, images memmap or None when compressed, images shape, images dtype).

  Raises:
    DataError: the file is not an .npz or lacks a key.
  """
  # mmap_mode only applies to a plain .npy, which is then rejected without being read.
  archive = np.load(path, mmap_mode="r", allow_pickle=False)
  if not isinstance(archive, np.lib.npyio.NpzFile):
    raise DataError(f"{path} is not an .npz archive")
  with archive:
    missing = [k for k in (_NPZ_IMAGES_KEY, _NPZ_FACTORS_KEY) if k not in archive.files]
    if missing:
      raise DataError(f"{path} lacks key(s) {missing}; it has {sorted(archive.files)}")
    factors = np.asarray(archive[_NPZ_FACTORS_KEY])
  images = _memory_map_npz_member(path, _NPZ_IMAGES_KEY)
  if images is None:
    image_shape, image_dtype = _npz_member_header(path, _NPZ_IMAGES_KEY)
  else:
    image_shape, image_dtype = images.shape, images.dtype
  return factors, images, image_shape, image_dtype
