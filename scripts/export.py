#!/usr/bin/env python3
"""Exports a trained tfvae model as a versioned SavedModel for TF Serving.

    python scripts/export.py --checkpoint=runs/default --export_dir=saved_models/default
    python scripts/export.py --checkpoint=runs/default/checkpoints/ckpt-400 \
        --export_dir=saved_models/default

`--checkpoint` is a run's logdir (its latest checkpoint), its `checkpoints/`
directory, or one checkpoint prefix. The model is rebuilt from the run's
config.json (and data.json for the image shape and scale), restored, and
written to EXPORT_DIR/<next version>/ atomically; existing versions are never
touched. See docs/serving.md for the signatures.
"""

from absl import app
from absl import flags

import flagdefs  # pylint: disable=import-error

from tfvae import config as config_lib  # pylint: disable=wrong-import-order
from tfvae.errors import ConfigError  # pylint: disable=wrong-import-order

PROGRAM = "export.py"
FLAGS = flags.FLAGS

flags.DEFINE_string(
    "checkpoint", None,
    "A run's logdir (latest checkpoint), its checkpoints/ directory, or a "
    "checkpoint prefix such as runs/x/checkpoints/ckpt-400.")
flags.DEFINE_string(
    "export_dir", None,
    "The model's base directory (TF Serving's model base path); the export "
    "goes to EXPORT_DIR/<next integer version>/.")


def load_run(checkpoint):
  """(config, data spec, checkpoint prefix) of a run, without TensorFlow."""
  from tfvae.training import rundir  # pylint: disable=import-outside-toplevel
  logdir, prefix = rundir.find_checkpoint(checkpoint)
  config = config_lib.Config.from_dict(rundir.read_config(logdir))
  spec = rundir.read_data_spec(logdir)
  if spec is None:
    # A run from before data.json: the data set itself gives shape and scale.
    from tfvae.data import datasets  # pylint: disable=import-outside-toplevel
    config.validate()
    spec = rundir.data_spec(datasets.load_data(config))
  else:
    # The training data need not exist any more: validate everything else.
    config_lib.Config(**{**config.to_dict(), "dataset": "digits"}).validate()
  return config, spec, prefix


def main(argv):
  if len(argv) > 1:
    flagdefs.fail(PROGRAM, f"unexpected arguments: {' '.join(argv[1:])}")

  def run():
    if not FLAGS.checkpoint:
      raise ConfigError("--checkpoint is required (a run's logdir or a "
                        "checkpoint prefix)")
    if not FLAGS.export_dir:
      raise ConfigError("--export_dir is required (e.g. saved_models/NAME)")
    from tfvae.export import layout  # pylint: disable=import-outside-toplevel
    layout.check_export_base(FLAGS.export_dir)
    config, spec, prefix = load_run(FLAGS.checkpoint)
    flagdefs.import_tensorflow_quietly()
    # pylint: disable=import-outside-toplevel
    from tfvae.export import saved_model
    from tfvae.models.factory import build_model
    from tfvae.training import checkpoints
    # pylint: enable=import-outside-toplevel
    model = build_model(config, spec["image_shape"])
    checkpoints.restore_model(model, prefix)
    path = saved_model.export(model, config, FLAGS.export_dir,
                              uint8_scale=spec["uint8_scale"],
                              step=checkpoints.checkpoint_step(prefix))
    print(f"exported {prefix} to {path}")

  flagdefs.run_guarded(PROGRAM, run)


if __name__ == "__main__":
  app.run(main, flags_parser=flagdefs.parse)
