"""Checks of a training run's inputs before any training step.

`check(config)` raises the one-line `TfvaeError` a bad flag, data set, logdir
or export target would cause, before anything is written: configuration values and combinations, the
export target, the logdir rules of `tfvae.runs.rundir` (another config
without `overwrite`, `resume="false"` on an existing run), readable data
of a valid shape and dtype inside the likelihood's support, and a batch that
fits the training set. The trainer repeats the data and logdir checks (cheap)
for library callers that skip this module.
"""

from tfvae.data import datasets
from tfvae.errors import DataError
from tfvae.export import layout
from tfvae.models import factory
from tfvae.runs import lock
from tfvae.runs import rundir


def check_batch_size(config, data):
  batch_size = config.training.batch_size
  if data.num_train < batch_size:
    raise DataError(f"batch_size={batch_size} is larger than the "
                    f"{data.num_train} training examples",
                    params=("batch_size",))


def check(config):
  """Validates all of the above; returns the loaded `ImageData`.

  Writes nothing.
  """
  config.validate()
  if config.run.export_dir is not None:
    layout.check_export_base(config.run.export_dir)
  rundir.check(config)
  lock.check_free(config.run.logdir)
  data = datasets.load_data(config)
  check_data(config, data)
  check_batch_size(config, data)
  return data


def check_data(config, data):
  """Raises DataError when the data leave the model's support (the
  likelihood family's own check); returns a warning string or None."""
  model = config.model
  if model.model == "sequence" and len(data.event_shape) != 1:
    raise DataError(f"dataset: model=sequence needs token ids of shape "
                    f"[N, T], got examples of shape {list(data.event_shape)}",
                    params=("dataset",))
  likelihood = None
  if model.model in ("vae", "sequence"):
    likelihood = factory.build_likelihood(config, data.event_shape, data)
  return datasets.check_support(data, likelihood, model.model,
                                model.reference_rec)
