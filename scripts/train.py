#!/usr/bin/env python3
"""Trains a tfvae model.

    python scripts/train.py --flagfile=scripts/flags/sigma_vae_learned.flags
    python scripts/train.py --model=reference --reference_rec=bce --steps=500

Prints a summary and writes <logdir>/final_metrics.json with the validation
-ELBO (nats, bits/dim), rate, distortion, effective beta, beta_norm and active
units. TensorBoard: `tensorboard --logdir runs/`.
"""

from absl import app

import flagdefs  # pylint: disable=import-error

flagdefs.define_config_flags()
PROGRAM = "train.py"


def main(argv):
  if len(argv) > 1:
    flagdefs.fail(PROGRAM, f"unexpected arguments: {' '.join(argv[1:])}")

  def run():
    config = flagdefs.config_from_flags()
    # Bad flags, data, logdir or export target fail fast, before TensorFlow
    # loads and before anything is written.
    from tfvae.training import preflight  # pylint: disable=import-outside-toplevel
    data = preflight.check(config)
    flagdefs.import_tensorflow_quietly()
    from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
    final = trainer.train(config, data=data)
    print(f"\nfinal validation metrics ({config.dataset}, step {final['step']}, "
          f"{final['train_seconds']}s):")
    print(trainer.summary_table(final))
    print(f"written: {config.logdir}/final_metrics.json")
    if "export_path" in final:
      print(f"exported: {final['export_path']}")

  flagdefs.run_guarded(PROGRAM, run)


if __name__ == "__main__":
  app.run(main, flags_parser=flagdefs.parse)
