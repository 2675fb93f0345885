"""Restoring a training run for evaluation, and the data it is evaluated on."""

# TensorFlow loads lazily, so bad input fails before it does.
# pylint: disable=import-outside-toplevel

import dataclasses
import os

from tfvae.config import ExperimentConfig
from tfvae.errors import CheckpointError, ConfigError, DataError
from tfvae.evaluation.options import FACTOR_DATASETS, SPLITS
from tfvae.runs import paths
from tfvae.runs import rundir

# Examples evaluated from a streamed training split when no cap is given.
STREAM_TRAIN_EXAMPLES = 10000


@dataclasses.dataclass
class LoadedRun:
  """A restored training run."""

  logdir: str
  config: ExperimentConfig
  model: object
  checkpoint: str
  step: int


def read_run_config(logdir):
  """The `ExperimentConfig` saved in a run directory; ConfigError if none."""
  if not os.path.isdir(logdir):
    raise ConfigError(f"logdir {logdir}: no such directory",
                      params=("logdir",))
  if not paths.has_config(logdir):
    raise ConfigError(f"logdir {logdir} is not a tfvae run (no "
                      f"{paths.CONFIG_FILE})", params=("logdir",))
  return rundir.read_config(logdir)


def load_run(logdir, image_shape):
  """Rebuilds the run's model for images of `image_shape` and restores its
  latest checkpoint (`tfvae.runs.restore`).

  The model is compiled with an optimizer (some objectives, e.g. capacity,
  read the global step) whose step is set to the checkpoint's.
  """
  from tfvae.runs import restore

  config = read_run_config(logdir)
  # A data.json without the size (or none): the shape is enough.
  spec = dict(rundir.read_data_spec(logdir) or {})
  spec["image_shape"] = list(image_shape)
  try:
    restored = restore.restore_run_model(config, spec, logdir, optimizer=True)
  except CheckpointError as e:
    raise CheckpointError(
        f"{e} (images of shape {tuple(image_shape)} given)") from None
  return LoadedRun(logdir=logdir, config=config, model=restored.model,
                   checkpoint=restored.checkpoint, step=restored.step)


def evaluation_config(run_config, dataset=None):
  """The run's config with the data set replaced (validated).

  The run's seed, validation fraction and `max_examples` are kept, so the
  run's own data set yields exactly the validation split it was trained with.
  """
  if dataset is None:
    return ExperimentConfig.from_dict(run_config.to_dict()).validate()
  return run_config.replace_flat(dataset=dataset).validate()


def load_data(config, seed):
  """The config's data set, loaded under Keras' global seed `seed`."""
  import keras
  from tfvae.data import datasets
  keras.utils.set_random_seed(seed)
  return datasets.load_data(config)


def split_images(data, split, max_examples=None):
  """Images of the requested split in compact storage, [N, H, W, C]."""
  if split not in SPLITS:
    raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got "
                      f"{split!r}", params=("split",))
  if split == "validation":
    images = data.validation
  elif data.train is not None:
    images = data.train
  else:  # A streamed set: render the first indices of its training stream.
    count = max_examples or STREAM_TRAIN_EXAMPLES
    images = data.stream.source.images(data.stream.indices[:count])
  if max_examples is not None:
    images = images[:max_examples]
  if images.shape[0] == 0:
    raise DataError(f"{data.name}: the {split} split is empty")
  return images


def eval_dataset(data, options, config):
  """The evaluation pass; binarised with the training's fixed validation
  sample when the run trained on dynamically binarised data."""
  from tfvae.data import pipeline
  images = split_images(data, options.split, options.max_examples)
  return pipeline.eval_dataset(images, data.scale, options.batch_size,
                               config.data.binarization,
                               config.training.seed + 1)


def factor_source(config):
  """The ground-truth-factor data of the config's data set, or None."""
  if config.data.dataset_kind not in FACTOR_DATASETS:
    return None
  from tfvae.data import dsprites
  if config.data.dataset_kind == "shapes_rgb":
    from tfvae.data import shapes_rgb
    return shapes_rgb.ShapesRGB()
  if config.data.dataset_kind == "dsprites":
    return dsprites.DSpritesLike()
  return dsprites.DSpritesNpz(config.data.dataset_argument)


def model_weighting(run, first_batch):
  """The KL weighting of the run at its checkpoint, in every convention.

  From the run's `final_metrics.json` when it was written at the checkpoint's
  step (the last training batch's values); otherwise what the restored model
  applies to the first evaluation batch.
  """
  import numpy as np
  keys = ("kl_weight", "beta_eff", "beta_norm", "sigma")
  final = rundir.read_final_metrics(run.logdir) or {}
  if final and final.get("step") == run.step:
    return {k: float(final[k]) for k in keys if final.get(k) is not None}
  terms = run.model.compute_terms(first_batch, training=False)
  return {k: float(np.mean(terms[k])) for k in keys if k in terms}
