"""tfvae-export: exports a trained model as a versioned SavedModel for TF
Serving (also `python scripts/export.py`).

    tfvae-export --checkpoint=runs/default --export_dir=saved_models/default
    tfvae-export --checkpoint=runs/default/checkpoints/ckpt-400 \\
        --export_dir=saved_models/default

`--checkpoint` is a run's logdir (its latest checkpoint), its `checkpoints/`
directory, or one checkpoint prefix. The model is rebuilt from the run's
config.json (and data.json for the image shape and scale), restored, and
written to EXPORT_DIR/<next version>/ atomically; existing versions are never
touched. See docs/serving.md for the signatures.
"""

import os

from absl import flags

from tfvae.cli import flags as cli
from tfvae.errors import ConfigError

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string(
      "checkpoint", None,
      "A run's logdir (latest checkpoint), its checkpoints/ directory, or a "
      "checkpoint prefix such as runs/x/checkpoints/ckpt-400.")
  flags.DEFINE_string(
      "export_dir", None,
      "The model's base directory (TF Serving's model base path); the export "
      "goes to EXPORT_DIR/<next integer version>/.")


def main(argv):
  program = os.path.basename(argv[0])
  cli.no_arguments(program, argv)

  def export():
    # pylint: disable=import-outside-toplevel
    from tfvae.export import from_run, layout
    if not FLAGS.checkpoint:
      raise ConfigError("--checkpoint is required (a run's logdir or a "
                        "checkpoint prefix)")
    if not FLAGS.export_dir:
      raise ConfigError("--export_dir is required (e.g. saved_models/NAME)")
    layout.check_export_base(FLAGS.export_dir)
    config, spec, prefix = from_run.load_run(FLAGS.checkpoint)
    cli.import_tensorflow_quietly()
    path = from_run.export_checkpoint(config, spec, prefix, FLAGS.export_dir)
    print(f"exported {prefix} to {path}")

  cli.run_guarded(program, export)


def run():
  """Console entry point."""
  define_flags()
  cli.run_program(main)


if __name__ == "__main__":
  run()
