"""Checks of a training run's inputs that need no TensorFlow.

`check(config)` raises the one-line `TfvaeError` a bad flag, data set, logdir
or export target would cause, before the script imports TensorFlow and
before anything is written: configuration values and combinations, the
export target, the logdir rules of `tfvae.training.rundir` (another config
without `--overwrite`, `--resume=false` on an existing run), readable data
of a valid shape and dtype inside the likelihood's support, and a batch that
fits the training set. The trainer repeats the data and logdir checks (cheap)
for library callers that skip this module.
"""

from tfvae.data import datasets
from tfvae.errors import DataError
from tfvae.export import layout
from tfvae.training import rundir
from tfvae.training import runlock


def check_batch_size(config, data):
  if data.num_train < config.batch_size:
    raise DataError(f"--batch_size={config.batch_size} is larger than the "
                    f"{data.num_train} training examples")


def check(config):
  """Validates all of the above; returns the loaded `ImageData`.

  Writes nothing.
  """
  config.validate()
  if config.export_dir is not None:
    layout.check_export_base(config.export_dir)
  rundir.check(config)
  runlock.check_free(config.logdir)
  data = datasets.load_data(config)
  datasets.check_support(data, config.likelihood, config.model,
                         config.reference_rec)
  check_batch_size(config, data)
  return data
