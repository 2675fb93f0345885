#!/usr/bin/env python3
"""Where the rate goes: VAE, beta-VAE, beta-TCVAE, FactorVAE and DIP-VAE on dSprites-like data.

    python benchmarks/kl_parts_table.py                      # 5 methods x 3 seeds
    python benchmarks/kl_parts_table.py --seeds=1 --steps=50 --methods=vae  # smoke

Trains every method with the same data, networks, steps and seeds, evaluates
each run's last checkpoint on its validation set (fixed evaluation seed =
the run's seed) and prints a Markdown table of the rate R and its split
R ~ MI + TC + dim-wise KL (Chen et al. 2018, minibatch stratified sampling,
`tfvae.metrics.diagnostics.kl_parts`), the distortion D, and the
disentanglement scores of `tfvae.evaluation` (MIG, beta-VAE, FactorVAE, DCI
disentanglement, SAP) at reduced sample sizes (`--metric_*`), as mean +/-
the standard deviation over the seeds. The table and every run's numbers are
also written under `--out_dir` (kl_parts_table.md, kl_parts_runs.json).

The methods (weights as in the presets scripts/flags/*.flags):

- vae:        the ELBO (beta = 1);
- beta_vae:   beta = 4 (Higgins et al. 2017 on dSprites);
- beta_tcvae: alpha = gamma = 1, beta = 6 on the TC (Chen et al. 2018);
- factorvae:  gamma = 35 (Kim & Mnih 2018), the discriminator `--factorvae_units`
              x `--factorvae_layers` (paper: 1000 x 6);
- dip_vae_i:  lambda_od = 10, lambda_d = 100 (Kumar et al. 2018;
              disentanglement_lib's factor 10); dip_vae_ii on request.

The data: `--max_examples` images of the procedural dSprites-like set, of
which `--validation_fraction` are held out (the diagnostic's N is that
validation set's size, so the MI is at most log N: 7.6 nats for 2000
images).
"""

import json
import math
import os
import sys

from absl import app
from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=wrong-import-position

from tfvae.config import ExperimentConfig  # pylint: disable=wrong-import-position

METHODS = {
    "vae": {"beta": 1.0},
    "beta_vae": {"beta": 4.0},
    "beta_tcvae": {"balancer": "beta_tcvae", "tc_alpha": 1.0, "tc_beta": 6.0,
                   "tc_gamma": 1.0},
    "factorvae": {"balancer": "factorvae", "factorvae_gamma": 35.0},
    "dip_vae_i": {"balancer": "dip_vae_i", "dip_lambda_od": 10.0,
                  "dip_lambda_d": 100.0},
    "dip_vae_ii": {"balancer": "dip_vae_ii", "dip_lambda_od": 10.0,
                   "dip_lambda_d": 10.0},
}
DEFAULT_METHODS = ("vae", "beta_vae", "beta_tcvae", "factorvae", "dip_vae_i")
LABELS = {"vae": "VAE", "beta_vae": "beta-VAE (beta 4)",
          "beta_tcvae": "beta-TCVAE (beta 6)", "factorvae": "FactorVAE (gamma 35)",
          "dip_vae_i": "DIP-VAE-I (10, 100)", "dip_vae_ii": "DIP-VAE-II (10, 10)"}
# (result key, column header) of the table, in order.
COLUMNS = (
    ("rate", "rate R"),
    ("index_code_mi", "MI"),
    ("total_correlation", "TC"),
    ("dimwise_kl", "dim-wise KL"),
    ("distortion", "distortion D"),
    ("mig", "MIG"),
    ("beta_vae", "beta-VAE score"),
    ("factor_vae", "FactorVAE score"),
    ("dci_disentanglement", "DCI D"),
    ("sap", "SAP"),
)

FLAGS = flags.FLAGS
flags.DEFINE_list("methods", list(DEFAULT_METHODS),
                  f"Methods to train, of {', '.join(METHODS)}.")
flags.DEFINE_integer("seeds", 3, "Seeds 0 .. N-1 per method.")
flags.DEFINE_integer("steps", 600, "Training steps of every run.")
flags.DEFINE_integer("batch_size", 64, "Batch size of every run.")
flags.DEFINE_integer("latent_dim", 10, "Latent dimensions J.")
flags.DEFINE_string("architecture", "conv", "mlp | conv.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the VAE.")
flags.DEFINE_integer("max_examples", 20000,
                     "dSprites-like images used (train + validation).")
flags.DEFINE_float("validation_fraction", 0.1, "Held-out fraction.")
flags.DEFINE_integer("factorvae_units", 1000,
                     "FactorVAE discriminator width (paper: 1000).")
flags.DEFINE_integer("factorvae_layers", 6,
                     "FactorVAE discriminator depth (paper: 6).")
flags.DEFINE_integer("metric_num_train", 500, "Training points per metric.")
flags.DEFINE_integer("metric_num_eval", 250, "Evaluation points per metric.")
flags.DEFINE_integer("metric_group_size", 16,
                     "Observations per beta-VAE / FactorVAE score point.")
flags.DEFINE_integer("metric_num_variance_estimate", 1000,
                     "Points of the FactorVAE score's variances.")
flags.DEFINE_string("out_dir", "runs/kl_parts_table",
                    "Where the runs, the table and the JSON go.")


def method_config(method, seed, out_dir, steps=600, batch_size=64,
                  latent_dim=10, architecture="conv", learning_rate=1e-3,
                  max_examples=20000, validation_fraction=0.1,
                  factorvae_units=1000, factorvae_layers=6):
  """The validated `ExperimentConfig` of one (method, seed) run."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got "
                     f"{method!r}")
  values = dict(
      dataset="dsprites", model="vae", likelihood="bernoulli",
      architecture=architecture, latent_dim=latent_dim,
      batch_size=batch_size, learning_rate=learning_rate, steps=steps,
      eval_every=steps, checkpoint_every=steps, seed=seed,
      max_examples=max_examples, validation_fraction=validation_fraction,
      factorvae_units=factorvae_units, factorvae_layers=factorvae_layers,
      logdir=os.path.join(out_dir, method, f"seed{seed}"), overwrite=True,
      verbose=0)
  values.update(METHODS[method])
  return ExperimentConfig.from_flat(values).validate()


def row_of(method, seed, result):
  """The table's numbers of one evaluated run."""
  row = {"method": method, "seed": seed}
  for key, _ in COLUMNS:
    value = result.get(key)
    row[key] = None if value is None else float(value)
  return row


def summarise(rows):
  """{method: {key: (mean, standard deviation over seeds, count)}}.

  The standard deviation is the sample one (ddof 1); NaN for one seed.
  Missing or non-finite values are left out.
  """
  summary = {}
  for row in rows:
    summary.setdefault(row["method"], {})
  for method, values in summary.items():
    for key, _ in COLUMNS:
      xs = [r[key] for r in rows if r["method"] == method and
            r.get(key) is not None and math.isfinite(r[key])]
      if not xs:
        continue
      spread = float(np.std(xs, ddof=1)) if len(xs) > 1 else float("nan")
      values[key] = (float(np.mean(xs)), spread, len(xs))
  return summary


def markdown_table(summary, methods=None):
  """The table: one row per method, `mean ± std` per column."""
  methods = [m for m in (methods or list(summary)) if m in summary]
  keys = [(k, h) for k, h in COLUMNS
          if any(k in summary[m] for m in methods)]
  lines = ["| method | " + " | ".join(h for _, h in keys) + " |",
           "|---|" + "---:|" * len(keys)]
  for method in methods:
    cells = []
    for key, _ in keys:
      if key not in summary[method]:
        cells.append("")
        continue
      mean, spread, _ = summary[method][key]
      digits = 2 if key in ("rate", "index_code_mi", "total_correlation",
                            "dimwise_kl", "distortion") else 3
      cells.append(f"{mean:.{digits}f}" if math.isnan(spread) else
                   f"{mean:.{digits}f} ± {spread:.{digits}f}")
    lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) +
                 " |")
  return "\n".join(lines)


def run_one(config, sizes):
  """Trains one run and evaluates its last checkpoint; returns the result."""
  from tfvae import evaluation  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  trainer.train(config, print_fn=lambda *_: None)
  return evaluation.evaluate_run(config.run.logdir, iw_samples=0, sizes=sizes,
                                 seed=config.training.seed, tensorboard_dir=None,
                                 elbo_samples=1)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from tfvae import evaluation  # pylint: disable=import-outside-toplevel
  unknown = [m for m in FLAGS.methods if m not in METHODS]
  if unknown:
    print(f"kl_parts_table.py: error: --methods: unknown {', '.join(unknown)}"
          f" (choose from {', '.join(METHODS)})", file=sys.stderr)
    return 2
  sizes = evaluation.MetricSizes(
      num_train=FLAGS.metric_num_train, num_eval=FLAGS.metric_num_eval,
      num_variance_estimate=FLAGS.metric_num_variance_estimate,
      group_size=FLAGS.metric_group_size).validate()
  configs = [method_config(
      method, seed, FLAGS.out_dir, steps=FLAGS.steps,
      batch_size=FLAGS.batch_size, latent_dim=FLAGS.latent_dim,
      architecture=FLAGS.architecture, learning_rate=FLAGS.learning_rate,
      max_examples=FLAGS.max_examples,
      validation_fraction=FLAGS.validation_fraction,
      factorvae_units=FLAGS.factorvae_units,
      factorvae_layers=FLAGS.factorvae_layers)
             for method in FLAGS.methods for seed in range(FLAGS.seeds)]
  rows = []
  for config in configs:
    method = config.run.logdir.split(os.sep)[-2]
    print(f"{method} seed {config.training.seed}: training "
          f"{config.training.steps} steps ...",
          flush=True)
    result = run_one(config, sizes)
    rows.append(row_of(method, config.training.seed, result))
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in rows[-1].items()
                           if isinstance(v, float)), flush=True)
  table = markdown_table(summarise(rows), FLAGS.methods)
  header = (f"dSprites-like data, {FLAGS.max_examples} images "
            f"({FLAGS.validation_fraction:g} held out), {FLAGS.architecture}, "
            f"J = {FLAGS.latent_dim}, Bernoulli decoder, batch "
            f"{FLAGS.batch_size}, {FLAGS.steps} steps, seeds 0..{FLAGS.seeds - 1}"
            f" (mean ± standard deviation); metrics from "
            f"{FLAGS.metric_num_train}/{FLAGS.metric_num_eval} points.")
  print("\n" + header + "\n\n" + table)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  with open(os.path.join(FLAGS.out_dir, "kl_parts_table.md"), "w") as f:
    f.write(header + "\n\n" + table + "\n")
  with open(os.path.join(FLAGS.out_dir, "kl_parts_runs.json"), "w") as f:
    json.dump(rows, f, indent=2)
  return 0


if __name__ == "__main__":
  app.run(main)
