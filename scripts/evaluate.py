#!/usr/bin/env python3
"""Evaluates a trained tfvae run: diagnostics, IWAE, collapse, disentanglement.

    python scripts/evaluate.py --logdir=runs/default
    python scripts/evaluate.py --logdir=runs/dsprites --metric_num_train=1000 \\
        --metric_num_eval=500 --iw_samples=100
    python scripts/evaluate.py --saved_model=saved_models/default \\
        --output_json=default_eval.json

Restores the latest checkpoint of --logdir and evaluates it on the run's
validation set (or --dataset, same image shape): -ELBO (nats, bits/dim), rate,
distortion, the importance-weighted NLL with --iw_samples, active units,
per-dimension KL, I(x;z) and a posterior-collapse warning; on dsprites /
dsprites_npz also MIG, beta-VAE, FactorVAE, DCI and SAP (disentanglement_lib's
sample sizes unless the --metric_* flags say otherwise). Prints a table, writes
JSON (default <logdir>/evaluation.json) and TensorBoard summaries (scalars,
reconstructions, latent traversals) under <logdir>/evaluation.

--saved_model=DIR evaluates an export of scripts/export.py instead (a version
directory or the base directory, whose latest version is used) on the data
set named in its config: everything but the training loss and the KL
weighting. Nothing is written into the SavedModel: the JSON goes to
--output_json (required) and TensorBoard only to --tensorboard_dir.
"""

from absl import app
from absl import flags

import evalflags  # pylint: disable=import-error
import flagdefs  # pylint: disable=import-error

PROGRAM = "evaluate.py"

flags.DEFINE_string("logdir", None, "Run directory to evaluate (config.json "
                    "and checkpoints/ of a train.py run).")
flags.DEFINE_string("saved_model", None, "A SavedModel of scripts/export.py "
                    "to evaluate instead of --logdir (a version directory or "
                    "the base directory: its latest version).")
flags.DEFINE_string("dataset", None, "Evaluate on this data set instead of the "
                    "run's own (same image shape; same syntax as train.py).")
flags.DEFINE_enum("split", "validation", ["validation", "train"],
                  "Which split of the data set to evaluate.")
flags.DEFINE_integer("max_examples", None, "Evaluate at most N examples of the "
                     "split.")
flags.DEFINE_integer("batch_size", 256, "Examples per evaluation batch.")
flags.DEFINE_integer("seed", 0, "Seed of every random draw of the evaluation.")
flags.DEFINE_string("output_json", None, "Where to write the results (default "
                    "<logdir>/evaluation.json, or evaluation-<dataset>.json "
                    "with --dataset).")
flags.DEFINE_bool("tensorboard", True, "Write TensorBoard summaries under "
                  "<logdir>/evaluation (or evaluation-<dataset>).")
flags.DEFINE_string("tensorboard_dir", None, "Write the TensorBoard summaries "
                    "here instead (with --saved_model: only here).")
evalflags.define_evaluation_flags()

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    flagdefs.fail(PROGRAM, f"unexpected arguments: {' '.join(argv[1:])}")

  def run():
    from tfvae import evaluation  # pylint: disable=import-outside-toplevel
    from tfvae.errors import ConfigError  # pylint: disable=import-outside-toplevel
    if bool(FLAGS.logdir) == bool(FLAGS.saved_model):
      raise ConfigError("give one of --logdir=RUN and --saved_model=DIR")
    sizes = evalflags.metric_sizes()
    common = dict(
        dataset=FLAGS.dataset, iw_samples=FLAGS.iw_samples,
        metrics=evalflags.metric_selection(), sizes=sizes, seed=FLAGS.seed,
        split=FLAGS.split, max_examples=FLAGS.max_examples,
        batch_size=FLAGS.batch_size, elbo_samples=FLAGS.elbo_samples,
        print_fn=print)
    if FLAGS.saved_model:
      if not FLAGS.output_json:
        raise ConfigError("--saved_model needs --output_json (nothing is "
                          "written into a SavedModel)")
      json_path = FLAGS.output_json
      evaluation.check_writable(json_path)
      result = evaluation.evaluate_saved_model(
          FLAGS.saved_model, tensorboard_dir=FLAGS.tensorboard_dir, **common)
    else:
      json_path, tb_dir = evaluation.default_output_paths(FLAGS.logdir,
                                                          FLAGS.dataset)
      json_path = FLAGS.output_json or json_path
      tb_dir = FLAGS.tensorboard_dir or tb_dir
      # Fail before the (long) evaluation if the result cannot be written.
      evaluation.check_writable(json_path)
      result = evaluation.evaluate_run(
          FLAGS.logdir, tensorboard_dir=tb_dir if FLAGS.tensorboard else None,
          **common)
    evaluation.write_json(json_path, result)
    print(evaluation.format_table(result))
    if result["collapse_warning"]:
      print(result["collapse_warning"])
    print(f"written: {json_path}")
    if result.get("tensorboard_dir"):
      print(f"TensorBoard: {result['tensorboard_dir']}")

  flagdefs.run_guarded(PROGRAM, run)


if __name__ == "__main__":
  app.run(main, flags_parser=flagdefs.parse)
