"""shapes_rgb: generated 32x32 colour images of one shape with known factors.

A colour counterpart of dSprites (Higgins et al. 2017) in the spirit of
3D Shapes (Burgess & Kim 2018): every image shows one flat-coloured shape on a
flat-coloured background, and every image is a deterministic function of six
discrete factors on a full grid, ordered like dSprites (last factor fastest):

    factor           size  values
    shape               3  square, ellipse, triangle
    object_hue          8  h = k / 8, drawn as HSV(h, 0.85, 0.95)
    background_hue      8  h = k / 8, drawn as HSV(h, 0.60, 0.40)
    scale               6  linspace(0.5, 1.0, 6)
    posX               15  column offset 0 .. 14 of the shape's 18x18 patch
    posY               15  row offset 0 .. 14 (rows grow downward)

    index = f . FACTOR_BASES,    NUM_IMAGES = 3 * 8 * 8 * 6 * 15 * 15 = 259200.

Geometry: each shape lives in a local frame where it fits the unit disc (a
square with its corners on the unit circle, an ellipse with semi-axes 1 and
0.6, an upward equilateral triangle inscribed in the circle); at scale s the
disc is SHAPE_RADIUS * s = 8 s pixels. A pixel's coverage alpha is the
fraction of its 4 x 4 sub-pixel samples inside the shape (anti-aliased edges),
and its colour is

    rgb = background + alpha * (object - background),

rounded to uint8. The object is always brighter (value 0.95) than the
background (0.40), so equal hues stay distinguishable. Every channel lies in
[0.14, 0.95] * 255: the images never touch 0 or 255, so a Beta likelihood
needs no clipping and a discretised one sees no edge bins.

Because the coverage depends only on (shape, scale), the 18 coverage patches
are computed once and an image is a vectorised paste plus a blend: tens of
thousands of images per second on one core, no randomness.

`ShapesRGB` implements disentanglement_lib's ground-truth-data interface
(Locatello et al. 2019): `num_factors`, `factors_num_values`,
`observation_shape`, `sample_factors(n, rng)` and
`sample_observations_from_factors(factors, rng)`; `generate(num, seed)` draws
a data set of distinct grid points.
"""

import colorsys

import numpy as np

from tfvae.errors import DataError

FACTOR_NAMES = ("shape", "object_hue", "background_hue", "scale", "posX",
                "posY")
FACTOR_SIZES = (3, 8, 8, 6, 15, 15)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))
FACTOR_BASES = np.array(
    [int(np.prod(FACTOR_SIZES[i + 1:])) for i in range(len(FACTOR_SIZES))],
    dtype=np.int64)

IMAGE_SIZE = 32
SHAPE_NAMES = ("square", "ellipse", "triangle")
SCALES = np.linspace(0.5, 1.0, 6)
SHAPE_RADIUS = 8.0  # Pixels covered by the local unit disc at scale 1.
PATCH_SIZE = 18  # The largest disc (diameter 16) plus an empty ring.
SUPERSAMPLE = 4  # Sub-pixel samples per pixel side for the coverage.
OBJECT_SATURATION, OBJECT_VALUE = 0.85, 0.95
BACKGROUND_SATURATION, BACKGROUND_VALUE = 0.60, 0.40
# uint8 scale: the models see k / 255.
SCALE = 1.0 / 255.0
DEFAULT_NUM_EXAMPLES = 20000
_RENDER_CHUNK = 4096


def _hsv_palette(size, saturation, value):
  """[size, 3] float RGB colours of hues k / size."""
  return np.array([colorsys.hsv_to_rgb(k / size, saturation, value)
                   for k in range(size)], dtype=np.float64)


OBJECT_COLOURS = _hsv_palette(FACTOR_SIZES[1], OBJECT_SATURATION, OBJECT_VALUE)
BACKGROUND_COLOURS = _hsv_palette(FACTOR_SIZES[2], BACKGROUND_SATURATION,
                                  BACKGROUND_VALUE)


def _inside(shape_index, u, v):
  """Whether local-frame points (u, v), v pointing up, lie in the shape."""
  if shape_index == 0:  # Square with its corners on the unit circle.
    half_side = 1.0 / np.sqrt(2.0)
    return (np.abs(u) <= half_side) & (np.abs(v) <= half_side)
  if shape_index == 1:  # Ellipse, semi-axes 1 (along u) and 0.6.
    return u**2 + (v / 0.6)**2 <= 1.0
  # Equilateral triangle with vertices at 90, 210 and 330 degrees: inside
  # when within the inradius 1/2 of each edge's outward normal.
  inside = np.ones(np.broadcast(u, v).shape, dtype=bool)
  for angle in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6):
    inside &= u * np.cos(angle) + v * np.sin(angle) <= 0.5
  return inside


def coverage_patches():
  """Anti-aliased coverage in [0, 1], float32 [3, 6, PATCH_SIZE, PATCH_SIZE]."""
  n = PATCH_SIZE * SUPERSAMPLE
  # Sub-pixel sample centres relative to the patch centre, in pixels.
  offsets = (np.arange(n) + 0.5) / SUPERSAMPLE - PATCH_SIZE / 2.0
  x = offsets[None, None, :]
  y = -offsets[None, :, None]  # Rows grow downward, local v points up.
  radius = (SHAPE_RADIUS * SCALES)[:, None, None]
  hits = np.stack([_inside(s, x / radius, y / radius)
                   for s in range(len(SHAPE_NAMES))])  # [3, 6, n, n]
  hits = hits.reshape(len(SHAPE_NAMES), len(SCALES), PATCH_SIZE, SUPERSAMPLE,
                      PATCH_SIZE, SUPERSAMPLE)
  return hits.mean(axis=(3, 5)).astype(np.float32)


def _as_factors(factors):
  """Validates factor class indices; returns int64 [n, 6]."""
  factors = np.asarray(factors)
  if factors.ndim == 1:
    factors = factors[None, :]
  if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
    raise DataError(f"factors must have shape [n, {len(FACTOR_SIZES)}], got "
                    f"{factors.shape}")
  if factors.size and not np.issubdtype(factors.dtype, np.integer):
    raise DataError("factors must be integer class indices, got dtype "
                    f"{factors.dtype}")
  factors = factors.astype(np.int64)
  if factors.size and (np.any(factors < 0) or
                       np.any(factors >= np.array(FACTOR_SIZES))):
    raise DataError(f"factors must lie in [0, size) for sizes {FACTOR_SIZES}")
  return factors


class ShapesRGB:
  """The full shapes_rgb grid, rendered on demand (nothing is stored)."""

  def __init__(self):
    self._coverage = coverage_patches()

  num_images = NUM_IMAGES

  @property
  def num_factors(self):
    return len(FACTOR_SIZES)

  @property
  def factors_num_values(self):
    return list(FACTOR_SIZES)

  @property
  def observation_shape(self):
    return (IMAGE_SIZE, IMAGE_SIZE, 3)

  def index_to_factors(self, indices):
    """Factor class indices int64 [n, 6] of grid indices [n]."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size and (indices.min() < 0 or indices.max() >= NUM_IMAGES):
      raise DataError(f"image indices must lie in [0, {NUM_IMAGES})")
    return (indices[:, None] // FACTOR_BASES) % np.array(FACTOR_SIZES)

  def factors_to_index(self, factors):
    """Grid indices int64 [n] of factor class indices [n, 6]."""
    return _as_factors(factors) @ FACTOR_BASES

  def render(self, factors):
    """uint8 images [n, 32, 32, 3] of factor class indices [n, 6]."""
    factors = _as_factors(factors)
    out = np.empty((len(factors), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    for start in range(0, len(factors), _RENDER_CHUNK):
      chunk = factors[start:start + _RENDER_CHUNK]
      out[start:start + len(chunk)] = self._render_chunk(chunk)
    return out

  def _render_chunk(self, factors):
    num = len(factors)
    obj = OBJECT_COLOURS[factors[:, 1]].astype(np.float32)[:, None, None, :]
    back = BACKGROUND_COLOURS[factors[:, 2]].astype(np.float32)[:, None,
                                                                 None, :]
    # Outside its patch the coverage is 0, so only the patch is blended.
    alpha = self._coverage[factors[:, 0], factors[:, 3]][..., None]
    patch_rgb = np.rint((back + alpha * (obj - back)) * 255.0).astype(np.uint8)
    out = np.empty((num, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    out[:] = np.rint(back * 255.0).astype(np.uint8)
    patch = np.arange(PATCH_SIZE)
    rows = factors[:, 5][:, None, None] + patch[None, :, None]
    cols = factors[:, 4][:, None, None] + patch[None, None, :]
    out[np.arange(num)[:, None, None], rows, cols] = patch_rgb
    return out

  def images(self, indices):
    """uint8 images [n, 32, 32, 3] of grid indices [n]."""
    return self.render(self.index_to_factors(indices))

  def sample_factors(self, num, random_state):
    """Factor tuples int64 [num, 6], each factor uniform on its grid."""
    return np.stack([random_state.randint(size, size=num)
                     for size in FACTOR_SIZES], axis=1).astype(np.int64)

  def sample_observations_from_factors(self, factors, random_state):
    """Images of the factor tuples, uint8 [n, 32, 32, 3] (no randomness)."""
    del random_state
    return self.render(factors)


def generate(num=DEFAULT_NUM_EXAMPLES, seed=0):
  """`num` distinct grid images drawn uniformly without replacement.

  The draw is the first `num` entries of one permutation of the grid, so a
  smaller set is a prefix of a larger one with the same seed.

  Returns:
    (images uint8 [num, 32, 32, 3], factors int64 [num, 6]).
  """
  if int(num) != num or not 1 <= num <= NUM_IMAGES:
    raise DataError(f"shapes_rgb: the number of examples must be in "
                    f"[1, {NUM_IMAGES}], got {num}",
                    params=("max_examples",))
  indices = np.random.RandomState(seed).permutation(NUM_IMAGES)[:int(num)]
  source = ShapesRGB()
  factors = source.index_to_factors(indices)
  return source.render(factors), factors
