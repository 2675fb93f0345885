"""tfvae-evaluate: evaluates a trained run or an export (also
`python scripts/evaluate.py`).

    tfvae-evaluate --logdir=runs/default
    tfvae-evaluate --logdir=runs/dsprites --metric_num_train=1000 \\
        --metric_num_eval=500 --iw_samples=100
    tfvae-evaluate --saved_model=saved_models/default \\
        --output_json=default_eval.json

Restores the latest checkpoint of --logdir and evaluates it on the run's
validation set (or --dataset, same image shape): -ELBO (nats, bits/dim), rate,
distortion, the importance-weighted NLL with --iw_samples, active units,
per-dimension KL, I(x;z) and a posterior-collapse warning; on dsprites /
dsprites_npz also MIG, beta-VAE, FactorVAE, DCI and SAP (disentanglement_lib's
sample sizes unless the --metric_* flags say otherwise). Prints a table, writes
JSON (default <logdir>/evaluation.json) and TensorBoard summaries (scalars,
reconstructions, latent traversals) under <logdir>/evaluation.

--saved_model=DIR evaluates an export of tfvae-export instead (a version
directory or the base directory, whose latest version is used) on the data
set named in its config: everything but the training loss and the KL
weighting. Nothing is written into the SavedModel: the JSON goes to
--output_json (required) and TensorBoard only to --tensorboard_dir.
"""

import os

from absl import flags

from tfvae.cli import flags as cli

FLAGS = flags.FLAGS
OPTIONS = ("dataset", "split", "max_examples", "batch_size", "seed",
           "iw_samples", "elbo_samples", "metrics", "sizes")


def define_flags():
  flags.DEFINE_string("logdir", None, "Run directory to evaluate (config.json "
                      "and checkpoints/ of a training run).")
  flags.DEFINE_string("saved_model", None, "A SavedModel of tfvae-export to "
                      "evaluate instead of --logdir (a version directory or "
                      "the base directory: its latest version).")
  flags.DEFINE_string("output_json", None, "Where to write the results "
                      "(default <logdir>/evaluation.json, or "
                      "evaluation-<dataset>.json with --dataset).")
  flags.DEFINE_bool("tensorboard", True, "Write TensorBoard summaries under "
                    "<logdir>/evaluation (or evaluation-<dataset>).")
  flags.DEFINE_string("tensorboard_dir", None, "Write the TensorBoard "
                      "summaries here instead (with --saved_model: only "
                      "here).")
  cli.define_evaluation_flags(OPTIONS)


def main(argv):
  program = os.path.basename(argv[0])
  cli.no_arguments(program, argv)

  def evaluate():
    from tfvae import evaluation  # pylint: disable=import-outside-toplevel
    result, json_path = evaluation.evaluate_and_write(
        cli.evaluation_options(OPTIONS), logdir=FLAGS.logdir,
        saved_model=FLAGS.saved_model, output_json=FLAGS.output_json,
        tensorboard=FLAGS.tensorboard, tensorboard_dir=FLAGS.tensorboard_dir,
        print_fn=print)
    print(evaluation.format_table(result))
    if result["collapse_warning"]:
      print(result["collapse_warning"])
    print(f"written: {json_path}")
    if result.get("tensorboard_dir"):
      print(f"TensorBoard: {result['tensorboard_dir']}")

  cli.run_guarded(program, evaluate)


def run():
  """Console entry point."""
  define_flags()
  cli.run_program(main)


if __name__ == "__main__":
  run()
