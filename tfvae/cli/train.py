"""tfvae-train: trains a model (also `python scripts/train.py`).

    tfvae-train --flagfile=scripts/flags/sigma_vae_learned.flags
    tfvae-train --model=reference --reference_rec=bce --steps=500

Prints a summary and writes <logdir>/final_metrics.json with the validation
-ELBO (nats, bits/dim), rate, distortion, effective beta, beta_norm and active
units. TensorBoard: `tensorboard --logdir runs/`.
"""

import os

from tfvae.cli import flags as cli


def main(argv):
  program = os.path.basename(argv[0])
  cli.no_arguments(program, argv)

  def train():
    config = cli.config_from_flags()
    # Bad flags, data, logdir or export target fail fast, before TensorFlow
    # loads and before anything is written.
    from tfvae.training import preflight  # pylint: disable=import-outside-toplevel
    data = preflight.check(config)
    cli.import_tensorflow_quietly()
    from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
    final = trainer.train(config, data=data)
    print(f"\nfinal validation metrics ({config.data.dataset}, step "
          f"{final['step']}, {final['train_seconds']}s):")
    print(trainer.summary_table(final))
    print(f"written: {config.run.logdir}/final_metrics.json")
    if "export_path" in final:
      print(f"exported: {final['export_path']}")

  cli.run_guarded(program, train)


def run():
  """Console entry point."""
  cli.define_config_flags()
  cli.run_program(main)


if __name__ == "__main__":
  run()
