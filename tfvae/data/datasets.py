"""Offline data sets and the tf.data pipeline.

Sources (`--dataset`):

- `digits` (default): scikit-learn's real 8x8 handwritten digits (1797 images,
  grey levels 0..16), shipped with the package, no network.
- `dsprites`: the procedural dSprites-like set (`tfvae.data.dsprites`), 64x64,
  streamed, never materialised.
- `dsprites_npz:PATH`: the original dSprites `.npz`, read lazily.
- `npz:PATH`: user arrays under key `x` (or `images`, or the only array) of
  any event shape: vectors [N, D], sequences [N, T, D], images [N, H, W, C];
  a uint8 [N, H, W] array (or any [N, H, W] with the conv network) is a
  grey-level image set and gets a channel axis. uint8 (0..255) or float
  (real-valued data welcome: the Gaussian's mean then is unconstrained).
- `images:DIR`: a folder of PNG/JPEG files of one size.
- `tfds:NAME[:SPLIT]`: any TFDS image data set with an `image` feature (mnist,
  fashion_mnist, binarized_mnist, cifar10, ...) for users with network.

In-memory data stays in its compact dtype (uint8 for images) until a batch is
made; `scale` turns stored values into [0, 1] floats inside the pipeline.
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from tfvae.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VALIDATION_SEED_OFFSET = 7919


@dataclasses.dataclass
class ImageData:
  """Train/validation arrays in compact storage and how to read them.

  Attributes:
    train, validation: [N, H, W, C] arrays (uint8 or float32); for streamed
      sets `train` is None and `stream` produces the training batches.
    scale: multiply stored values by this to get floats.
    support: "binary" ({0,1}), "unit" ([0,1]) or "real" (anything else),
      measured on the data.
    stream: optional object with `tf_dataset(batch_size, indices, shuffle_seed)`.
  """

  name: str
  train: Optional[np.ndarray]
  validation: np.ndarray
  scale: float
  support: str
  stream: object = None
  num_train: int = 0

  @property
  def event_shape(self):
    """The shape of one example (images [H, W, C], sequences, vectors)."""
    return tuple(int(d) for d in self.validation.shape[1:])

  image_shape = event_shape

  @property
  def num_features(self):
    return int(np.prod(self.event_shape))

  @property
  def in_unit_interval(self):
    """True when every value lies in [0, 1] (binary or grey levels)."""
    return self.support != "real"


def _support(array, scale):
  """Measured support of the data after scaling."""
  lo = float(array.min()) * scale
  hi = float(array.max()) * scale
  if lo < 0 or hi > 1:
    return "real"
  sample = array.reshape(-1)[:200000] * scale
  if np.all((sample == 0) | (sample == 1)):
    return "binary"
  return "unit"


def _as_images(array, source):
  """Validates dtype/shape of an image set; returns [N, H, W, C] and the scale."""
  array = np.asarray(array)
  if array.ndim == 3:
    array = array[..., None]
  if array.ndim != 4:
    raise DataError(f"{source}: expected images of shape [N, H, W] or "
                    f"[N, H, W, C], got shape {array.shape}")
  if array.shape[-1] not in (1, 3):
    raise DataError(f"{source}: expected 1 or 3 channels, got "
                    f"{array.shape[-1]}")
  return _as_events(array, source)


def _as_events(array, source):
  """Validates dtype and values of [N, ...] examples; returns them and the scale."""
  array = np.asarray(array)
  if array.ndim < 2:
    raise DataError(f"{source}: expected examples of shape [N, ...] with at "
                    f"least one feature axis, got shape {array.shape}")
  if array.shape[0] == 0:
    raise DataError(f"{source}: the data set is empty")
  if array.dtype == np.uint8:
    return array, 1.0 / 255.0
  if np.issubdtype(array.dtype, np.floating):
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
      raise DataError(f"{source}: the data contain NaN or infinite values")
    return array, 1.0
  raise DataError(f"{source}: unsupported dtype {array.dtype}; use uint8 "
                  "(0..255) or float")


def load_digits():
  """scikit-learn's 8x8 digits, grey levels 0..16 stored as uint8."""
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  images = datasets.load_digits().images.astype(np.uint8)
  return images[..., None], 1.0 / 16.0


def load_npz(path, images=False):
  """An npz array as events; `images` (the conv network) or a uint8
  [N, H, W] array means grey-level images, which get a channel axis."""
  try:
    with np.load(path, allow_pickle=False) as archive:
      keys = list(archive.keys())
      key = next((k for k in ("x", "images") if k in keys), None)
      if key is None:
        if len(keys) != 1:
          raise DataError(f"npz:{path}: expected an array named 'x' or "
                          f"'images' (found {', '.join(keys) or 'none'})")
        key = keys[0]
      array = archive[key]
  except DataError:
    raise
  except Exception as e:  # zipfile/pickle/format errors all mean a bad file.
    raise DataError(f"npz:{path}: cannot read as .npz ({type(e).__name__}: "
                    f"{e})") from None
  if images or (array.ndim == 3 and array.dtype == np.uint8):
    return _as_images(array, f"npz:{path}")
  return _as_events(array, f"npz:{path}")


def load_image_folder(directory):
  from PIL import Image  # pylint: disable=import-outside-toplevel
  if not os.path.isdir(directory):
    raise DataError(f"images:{directory}: not a directory")
  files = sorted(f for f in os.listdir(directory)
                 if f.lower().endswith(IMAGE_SUFFIXES))
  if not files:
    raise DataError(f"images:{directory}: no .png/.jpg/.jpeg files")
  images = []
  for name in files:
    try:
      with Image.open(os.path.join(directory, name)) as image:
        images.append(image.convert("RGB") if image.mode not in ("L", "1")
                      else image.convert("L"))
    except Exception as e:  # PIL raises many types for a broken file.
      raise DataError(f"images:{directory}: cannot read {name} "
                      f"({type(e).__name__})") from None
  sizes = {im.size for im in images}
  if len(sizes) != 1:
    raise DataError(f"images:{directory}: images differ in size {sorted(sizes)}")
  modes = {im.mode for im in images}
  if len(modes) != 1:
    images = [im.convert("RGB") for im in images]
  array = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
  return _as_images(array, f"images:{directory}")


def load_tfds(spec):
  """`NAME` or `NAME:SPLIT`; returns (train, validation, scale)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  name, _, split = spec.partition(":")
  try:
    builder = tfds.builder(name)
    splits = list(builder.info.splits.keys()) if builder.info.splits else []
    train_split = split or "train"
    val_split = "test" if "test" in splits or not splits else (
        "validation" if "validation" in splits else None)
    arrays = []
    for s in (train_split, val_split):
      if s is None:
        arrays.append(None)
        continue
      dataset = tfds.load(name, split=s)
      if "image" not in dataset.element_spec:
        raise DataError(f"tfds:{name}: no 'image' feature")
      # Batched iteration (batch_size=-1 crashes on generator-backed data).
      chunks = list(tfds.as_numpy(
          dataset.map(lambda example: example["image"]).batch(4096)))
      if not chunks:
        raise DataError(f"tfds:{name}: split {s!r} is empty")
      arrays.append(np.concatenate(chunks))
  except DataError:
    raise
  except Exception as e:  # Download and registry errors.
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    raise DataError(f"tfds:{name}: cannot load ({type(e).__name__}: "
                    f"{first[:200]})") from None
  train, scale = _as_images(arrays[0], f"tfds:{name}")
  validation = None
  if arrays[1] is not None:
    validation, _ = _as_images(arrays[1], f"tfds:{name}")
  return train, validation, scale


def split_validation(images, fraction, seed):
  """Deterministic split; returns (train, validation)."""
  n = images.shape[0]
  n_val = int(round(n * fraction))
  if fraction > 0 and n_val == 0:
    n_val = 1
  if n_val >= n:
    raise DataError(f"cannot hold out {n_val} of {n} examples for validation")
  order = np.random.RandomState(seed + VALIDATION_SEED_OFFSET).permutation(n)
  return images[order[n_val:]], images[order[:n_val]]


def check_dataset_path(data_config):
  """DataError (about `dataset`) when the data set's file or folder is missing."""
  if data_config.dataset_kind in ("npz", "images", "dsprites_npz"):
    path = data_config.dataset_argument
    if not os.path.exists(path):
      raise DataError(f"dataset: no such file or directory: {path}",
                      params=("dataset",))


def load_data(config):
  """Loads the data set named by `config.data.dataset` (see module doc).

  `config` is an `ExperimentConfig` (its data section, and the training seed
  for the validation split and static binarisation).
  """
  check_dataset_path(config.data)
  kind, argument = config.data.dataset_kind, config.data.dataset_argument
  if kind in ("dsprites", "dsprites_npz"):
    return _load_dsprites(config)
  validation = None
  if kind == "digits":
    images, scale = load_digits()
  elif kind == "npz":
    images, scale = load_npz(argument, config.model.architecture == "conv")
  elif kind == "images":
    images, scale = load_image_folder(argument)
  elif kind == "tfds":
    images, validation, scale = load_tfds(argument)
  else:
    raise DataError(f"unknown dataset {config.data.dataset!r}")
  if config.data.max_examples is not None:
    images = images[:config.data.max_examples]
  if validation is None:
    if config.data.validation_fraction > 0:
      train, validation = split_validation(
          images, config.data.validation_fraction, config.training.seed)
    else:
      train, validation = images, images
  else:
    train = images
    if config.data.max_examples is not None:
      validation = validation[:config.data.max_examples]
  if config.data.binarization == "static":
    train = static_binarize(train, scale, config.training.seed)
    validation = static_binarize(validation, scale, config.training.seed + 1)
    scale = 1.0
  support = _support(train, scale)
  return ImageData(name=config.data.dataset, train=train,
                   validation=validation, scale=scale, support=support,
                   num_train=int(train.shape[0]))


def _load_dsprites(config):
  from tfvae.data import dsprites  # pylint: disable=import-outside-toplevel
  if config.data.dataset_kind == "dsprites":
    source = dsprites.DSpritesLike()
  else:
    source = dsprites.DSpritesNpz(config.data.dataset_argument)
  n = source.num_images
  if config.data.max_examples is not None:
    n = min(n, config.data.max_examples)
  rng = np.random.RandomState(config.training.seed + VALIDATION_SEED_OFFSET)
  indices = rng.permutation(source.num_images)[:n] if n < source.num_images \
      else rng.permutation(n)
  n_val = min(max(1, int(round(n * config.data.validation_fraction))), 2048,
              n - 1)
  val_idx, train_idx = np.sort(indices[:n_val]), indices[n_val:]
  validation = source.images(val_idx)
  stream = _IndexStream(source, train_idx)
  return ImageData(name=config.data.dataset, train=None, validation=validation,
                   scale=1.0, support="binary", stream=stream,
                   num_train=int(train_idx.shape[0]))


class _IndexStream:
  """Streams a fixed subset of a dSprites source."""

  def __init__(self, source, indices):
    self.source = source
    self.indices = indices

  def tf_dataset(self, batch_size, shuffle_seed=None):
    return self.source.tf_dataset(batch_size, indices=self.indices,
                                  shuffle_seed=shuffle_seed)


def static_binarize(images, scale, seed):
  """Samples x ~ Bernoulli(pixel) once (Larochelle & Murray 2011 style)."""
  rng = np.random.RandomState(seed)
  probs = images.astype(np.float32) * scale
  return (rng.uniform(size=probs.shape) < probs).astype(np.uint8)


def values_in_chunks(data, chunk=4096):
  """The stored train and validation examples as float32 model inputs
  (stored value * scale), a chunk at a time."""
  for array in (data.train, data.validation):
    if array is None:
      continue
    for start in range(0, array.shape[0], chunk):
      yield np.asarray(array[start:start + chunk], np.float32) * np.float32(
          data.scale)


def check_support(data, likelihood, model="vae", reference_rec="l2",
                  argument="dataset"):
  """Raises DataError when the data leave the likelihood's support.

  `likelihood` is a `tfvae.likelihoods.Likelihood` or a registered name
  (built with its default settings); its `check_data` judges the data.
  Returns a warning string (or None), e.g. for Bernoulli on non-binary data.
  """
  if model == "reference":
    if reference_rec == "bce" and data.support == "real":
      raise DataError(f"the BCE reconstruction needs data in [0, 1], but "
                      f"{data.name} has values outside it; rescale it or use "
                      "--reference_rec=l2", params=(argument,))
    return None
  from tfvae import likelihoods  # pylint: disable=import-outside-toplevel
  if isinstance(likelihood, str):
    family = likelihoods.lookup(likelihood)
    likelihood = family.from_settings(family.Settings(), data.event_shape,
                                      data)
  warnings = []
  for values in values_in_chunks(data):
    for warning in likelihood.check_data(values, argument):
      if warning not in warnings:
        warnings.append(warning)
  return "; ".join(f"warning: {w}" for w in warnings) or None
