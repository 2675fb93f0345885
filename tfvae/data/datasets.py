"""Offline data sets and the tf.data pipeline.

Sources (`--dataset`):

- `digits` (default): scikit-learn's real 8x8 handwritten digits (1797 images,
  grey levels 0..16), shipped with the package, no network.
- `dsprites`: the procedural dSprites-like set (`tfvae.data.dsprites`), 64x64,
  streamed, never materialised.
- `shapes_rgb`: generated 32x32 colour shapes with six known factors
  (`tfvae.data.shapes_rgb`), uint8 with scale 1/255; 20,000 images unless
  `max_examples` asks for another number.
- `mixed_table`: a generated table of 4 real, 3 binary, a 4-way and a 3-way
  categorical column from three known factors (`tfvae.data.mixed_table`),
  float32 rows used as they are; the data set carries its `columns` spec.
- `sentences`: English sentences that ship with Python
  (`tfvae.data.text.load_pydoc`: int32 token ids [N, 30] padded with id 0,
  a 2000-token vocabulary), for `--model=sequence`; it carries
  `num_classes`, `vocab` and `pad_id`.
- `dsprites_npz:PATH`: the original dSprites `.npz`, read lazily.
- `npz:PATH`: user arrays under key `x` (or `images`, or the only array) of
  any event shape: vectors [N, D], sequences [N, T, D], images [N, H, W, C];
  a uint8 [N, H, W] array (or any [N, H, W] with the conv network) is a
  grey-level image set and gets a channel axis. uint8 (0..255) or float
  (real-valued data welcome: the Gaussian's mean then is unconstrained).
  Integer arrays are values, kept as they are (scale 1): token ids [N, T]
  and table rows [N, D] of any integer dtype, and any integer array (uint8
  included) when the archive also holds `num_classes`, `vocab` or
  `columns`; without those keys uint8 stays 0..255 levels (scale 1/255).
  The optional keys are carried to the data set: `num_classes` (an integer),
  `vocab` (1-D strings, one per id; it implies `num_classes`), `columns` (a
  column spec such as "gaussian:4,bernoulli:3,categorical:4").
- `images:DIR`: a folder of PNG/JPEG files of one size.
- `tfds:NAME[:SPLIT]`: any TFDS image data set with an `image` feature (mnist,
  fashion_mnist, binarized_mnist, cifar10, ...) for users with network.

In-memory data stays in its compact dtype (uint8 for images) until a batch is
made; `scale` turns stored values into [0, 1] floats inside the pipeline.
Integer values (ids, codes) are stored as float32, which holds them exactly
below 2**24. Binarisation applies to images only: a data set of values
(integers, or the mixed table) refuses it.
"""

# Size: every data source behind one `load_data(config)` and its checks;
# the generated sets live in their own modules.

import dataclasses
import os
from typing import Optional, Tuple

import numpy as np

from tfvae.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VALIDATION_SEED_OFFSET = 7919
# Optional npz keys describing the values, carried to the data set.
NPZ_META_KEYS = ("num_classes", "vocab", "columns")
# Generated data sets are the same for every run: the training seed only
# chooses the validation split, as for digits.
GENERATION_SEED = 0
# Generated data sets (`tfvae.data.shapes_rgb`, `tfvae.data.mixed_table`).
GENERATED = ("shapes_rgb", "mixed_table")
# float32 holds every integer of magnitude up to 2**24 exactly.
MAX_EXACT_INTEGER = 2**24


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
    columns: the column spec of a table ("gaussian:4,bernoulli:3,..."), for
      `--likelihood=columns`; None for other data.
    num_classes, vocab: the number of classes of integer ids and their
      names (from an npz's optional keys); None when not given.
    pad_id: the padding id of token sequences (`sentences`), the
      categorical likelihood's default `mask_value`; None for other data.
    values: True when the stored numbers are values (ids, codes, table
      rows) that must not be binarised.
    factor_names, train_factors, validation_factors: the known generative
      factors of a generated set, one row per example of each split.
    ground_truth: the full factor grid with disentanglement_lib's
      ground-truth interface (`sample_factors`, ...), or None.
  """

  name: str
  train: Optional[np.ndarray]
  validation: np.ndarray
  scale: float
  support: str
  stream: object = None
  num_train: int = 0
  columns: Optional[str] = None
  num_classes: Optional[int] = None
  vocab: Optional[Tuple[str, ...]] = None
  pad_id: Optional[int] = None
  values: bool = False
  factor_names: Optional[Tuple[str, ...]] = None
  train_factors: Optional[np.ndarray] = None
  validation_factors: Optional[np.ndarray] = None
  ground_truth: object = None

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


def _as_events(array, source, values=False):
  """Validates dtype and values of [N, ...] examples; returns (array, scale).

  uint8 is grey levels (scale 1/255) unless `values` says the numbers are
  ids or codes; other integers are values when `values` or when the array
  is [N, D] (token ids, table rows), stored as float32 with scale 1.
  """
  array = np.asarray(array)
  if array.ndim < 2:
    raise DataError(f"{source}: expected examples of shape [N, ...] with at "
                    f"least one feature axis, got shape {array.shape}")
  if array.shape[0] == 0:
    raise DataError(f"{source}: the data set is empty")
  if array.dtype == np.uint8 and not values:
    return array, 1.0 / 255.0
  if np.issubdtype(array.dtype, np.floating):
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
      raise DataError(f"{source}: the data contain NaN or infinite values")
    return array, 1.0
  if np.issubdtype(array.dtype, np.integer) and (values or array.ndim == 2):
    if array.max() > MAX_EXACT_INTEGER or array.min() < -MAX_EXACT_INTEGER:
      raise DataError(f"{source}: integer values beyond 2**24 in magnitude "
                      "are not exact in float32")
    return array.astype(np.float32), 1.0
  raise DataError(f"{source}: unsupported dtype {array.dtype} for shape "
                  f"{array.shape}; use uint8 images (0..255), float, or "
                  "integer ids [N, T] / table rows [N, D] (other integer "
                  "shapes need a num_classes, vocab or columns key)")


def load_digits():
  """scikit-learn's 8x8 digits, grey levels 0..16 stored as uint8."""
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  images = datasets.load_digits().images.astype(np.uint8)
  return images[..., None], 1.0 / 16.0


def load_npz(path, images=False):
  """An npz array as events and its scale (see `read_npz`)."""
  array, scale, _ = read_npz(path, images)
  return array, scale


def read_npz(path, images=False):
  """An npz array as events, its scale and the archive's optional keys.

  `images` (the conv network) or a uint8 [N, H, W] array means grey-level
  images, which get a channel axis, unless the archive's `num_classes`,
  `vocab` or `columns` key says the numbers are values.

  Returns:
    (array, scale, meta): meta holds the keys of `NPZ_META_KEYS` present
    (`num_classes` int, `vocab` tuple of str, `columns` str) and
    `values: True` when the numbers are values (integers kept as they are,
    or any array with one of those keys).
  """
  source = f"npz:{path}"
  try:
    with np.load(path, allow_pickle=False) as archive:
      keys = list(archive.keys())
      data_keys = [k for k in keys if k not in NPZ_META_KEYS]
      key = next((k for k in ("x", "images") if k in keys), None)
      if key is None:
        if len(data_keys) != 1:
          raise DataError(f"{source}: expected an array named 'x' or "
                          f"'images' (found {', '.join(keys) or 'none'})")
        key = data_keys[0]
      array = archive[key]
      meta = _npz_meta({k: archive[k] for k in NPZ_META_KEYS if k in keys},
                       source)
  except DataError:
    raise
  except Exception as e:  # zipfile/pickle/format errors all mean a bad file.
    raise DataError(f"{source}: cannot read as .npz ({type(e).__name__}: "
                    f"{e})") from None
  integer = np.issubdtype(array.dtype, np.integer)
  if meta:
    array, scale = _as_events(array, source, values=True)
  elif images or (array.ndim == 3 and array.dtype == np.uint8):
    array, scale = _as_images(array, source)
  else:
    array, scale = _as_events(array, source)
  if meta or (integer and scale == 1.0):
    meta["values"] = True
  return array, scale, meta


def _npz_meta(raw, source):
  """Validates an npz's optional `num_classes`, `vocab` and `columns`."""
  meta = {}
  if "num_classes" in raw:
    value = raw["num_classes"]
    if (value.ndim != 0 or not np.issubdtype(value.dtype, np.integer) or
        int(value) < 2):
      raise DataError(f"{source}: num_classes must be one integer >= 2, got "
                      f"{value.tolist()!r}")
    meta["num_classes"] = int(value)
  if "vocab" in raw:
    value = raw["vocab"]
    if value.ndim != 1 or value.dtype.kind not in "US" or value.size < 2:
      raise DataError(f"{source}: vocab must be a 1-D array of at least 2 "
                      f"strings, got dtype {value.dtype} shape {value.shape}")
    vocab = tuple(v.decode() if isinstance(v, bytes) else str(v)
                  for v in value.tolist())
    if meta.setdefault("num_classes", len(vocab)) != len(vocab):
      raise DataError(f"{source}: vocab has {len(vocab)} entries but "
                      f"num_classes is {meta['num_classes']}")
    meta["vocab"] = vocab
  if "columns" in raw:
    value = raw["columns"]
    if value.ndim != 0 or value.dtype.kind not in "US" or not str(
        value.item()).strip():
      raise DataError(f"{source}: columns must be one non-empty string such "
                      "as 'gaussian:4,categorical:3'")
    item = value.item()
    meta["columns"] = item.decode() if isinstance(item, bytes) else str(item)
  return meta


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
  if kind in GENERATED:
    return _load_generated(config)
  if kind == "sentences":
    return _load_sentences(config)
  validation = None
  meta = {}
  if kind == "digits":
    images, scale = load_digits()
  elif kind == "npz":
    images, scale, meta = read_npz(argument,
                                   config.model.architecture == "conv")
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
  if meta.get("values"):
    _check_no_binarization(config, "holds values (ids or codes)")
  if config.data.binarization == "static":
    train = static_binarize(train, scale, config.training.seed)
    validation = static_binarize(validation, scale, config.training.seed + 1)
    scale = 1.0
  support = _support(train, scale)
  return ImageData(name=config.data.dataset, train=train,
                   validation=validation, scale=scale, support=support,
                   num_train=int(train.shape[0]), **meta)


def _check_no_binarization(config, what):
  if config.data.binarization != "none":
    raise DataError(f"binarization={config.data.binarization}: "
                    f"{config.data.dataset} {what}, which cannot be "
                    "binarised; use binarization=none",
                    params=("binarization",))


def _load_generated(config):
  """A generated set of `max_examples` (or its default number of) examples,
  split by the training seed; its factors follow the split."""
  # pylint: disable=import-outside-toplevel
  from tfvae.data import mixed_table
  from tfvae.data import shapes_rgb
  kind = config.data.dataset_kind
  module = shapes_rgb if kind == "shapes_rgb" else mixed_table
  num = config.data.max_examples or module.DEFAULT_NUM_EXAMPLES
  extra = {}
  if kind == "shapes_rgb":
    if config.data.binarization == "static":
      # Its factor metrics score the stored grey levels at scale 1/255.
      raise DataError("binarization=static: shapes_rgb keeps its colour "
                      "levels; use binarization=dynamic or none",
                      params=("binarization",))
    num = min(num, shapes_rgb.NUM_IMAGES)
    scale, support = shapes_rgb.SCALE, None
    extra["ground_truth"] = shapes_rgb.ShapesRGB()
  else:
    _check_no_binarization(config, "is a table of mixed column types")
    scale, support = 1.0, "real"
    extra.update(columns=mixed_table.COLUMNS, values=True)
  examples, factors = module.generate(num, GENERATION_SEED)
  if config.data.validation_fraction > 0:
    train_idx, val_idx = split_validation(
        np.arange(num), config.data.validation_fraction, config.training.seed)
  else:
    train_idx = val_idx = np.arange(num)
  train, validation = examples[train_idx], examples[val_idx]
  return ImageData(name=config.data.dataset, train=train,
                   validation=validation, scale=scale,
                   support=support or _support(train, scale),
                   num_train=int(train.shape[0]),
                   factor_names=module.FACTOR_NAMES,
                   train_factors=factors[train_idx],
                   validation_factors=factors[val_idx], **extra)


def _load_sentences(config):
  """The built-in sentences, split by the training seed; int32 ids."""
  from tfvae.data import text  # pylint: disable=import-outside-toplevel
  _check_no_binarization(config, "holds token ids")
  fraction = config.data.validation_fraction
  if not 0 < fraction < 1:
    raise DataError(f"validation_fraction must be in (0, 1) for "
                    f"{config.data.dataset}, got {fraction}",
                    params=("validation_fraction",))
  corpus = text.load_pydoc(validation_fraction=fraction,
                           seed=config.training.seed)
  train = corpus.train
  if config.data.max_examples is not None:
    train = train[:config.data.max_examples]
  return ImageData(name=config.data.dataset, train=train,
                   validation=corpus.validation, scale=1.0,
                   support=corpus.support, num_train=int(train.shape[0]),
                   num_classes=corpus.num_classes, vocab=corpus.vocab,
                   pad_id=corpus.pad_id, values=True)


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
    # Every chunk is checked; the first chunk's warnings stand for all.
    found = likelihood.check_data(values, argument)
    warnings = warnings or found
  return "; ".join(f"warning: {w}" for w in warnings) or None
