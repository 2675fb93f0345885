"""A run's trained model back: rebuilt from its config and data spec, restored.

The one way evaluation (`tfvae.evaluation.load_run`) and export
(`tfvae.export.from_run`) get a run's model: the factory builds it from the
run's config.json and data.json (`tfvae.models.factory.build_model_for_run`),
then the chosen checkpoint's model variables are restored
(`tfvae.runs.checkpoints.restore_model`). A training run resuming restores
more (optimizer slots, the last batch's values) through its checkpoint
manager, into the model it built from the data (`tfvae.training.trainer`).
"""

# TensorFlow loads lazily, so reading a run's files does not import it.
# pylint: disable=import-outside-toplevel

import dataclasses

from tfvae.runs import checkpoint_files


@dataclasses.dataclass
class Restored:
  """A rebuilt model, the checkpoint prefix restored and its global step."""

  model: object
  checkpoint: str
  step: int


def restore_run_model(config, spec, checkpoint, optimizer=False):
  """The run's model with `checkpoint` restored.

  Args:
    config: the run's `ExperimentConfig`.
    spec: its data spec (`rundir.read_data_spec`; at least `image_shape`).
    checkpoint: a checkpoint prefix, or a directory (its latest checkpoint).
    optimizer: compile the model with the run's Adam optimizer, its step
      set to the checkpoint's (objectives such as capacity read it).

  Returns:
    `Restored`; `step` is the checkpoint's global step (from its name).

  Raises:
    CheckpointError: no checkpoint there, or one of another model.
  """
  from tfvae.models.factory import build_model_for_run
  from tfvae.runs import checkpoints
  model = build_model_for_run(config, spec)
  if optimizer:
    import keras
    model.compile(optimizer=keras.optimizers.Adam(
        config.training.learning_rate))
  path = checkpoints.restore_model(model, checkpoint)
  step = checkpoint_files.step_of(path)
  if optimizer:
    model.optimizer.iterations.assign(step)
  return Restored(model=model, checkpoint=path, step=step)
