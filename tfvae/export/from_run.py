"""Exporting a training run's checkpoint: rebuild, restore, publish a version."""

# TensorFlow loads lazily, so a bad run or target fails before it does.
# pylint: disable=import-outside-toplevel

from tfvae.runs import checkpoint_files
from tfvae.runs import rundir


def load_run(checkpoint):
  """(config, data spec, checkpoint prefix) of a run, without TensorFlow.

  `checkpoint` is a run's logdir (its latest checkpoint), its checkpoints/
  directory or one checkpoint prefix.
  """
  logdir, prefix = checkpoint_files.find_checkpoint(checkpoint)
  config = rundir.read_config(logdir)
  spec = rundir.read_data_spec(logdir)
  if spec is None:
    # A run without data.json: the data set itself gives shape and scale.
    from tfvae.data import datasets
    config.validate()
    spec = rundir.data_spec(datasets.load_data(config))
  else:
    config.validate()  # The training data need not exist any more.
  return config, spec, prefix


def export_checkpoint(config, spec, prefix, export_dir):
  """Rebuilds the run's model, restores `prefix` (`tfvae.runs.restore`),
  exports it; returns the path of the new version."""
  from tfvae.export import saved_model
  from tfvae.runs import checkpoints
  from tfvae.runs import restore
  model = restore.restore_run_model(config, spec, prefix).model
  return saved_model.export(model, config, export_dir,
                            uint8_scale=spec["uint8_scale"],
                            step=checkpoints.checkpoint_step(prefix))
