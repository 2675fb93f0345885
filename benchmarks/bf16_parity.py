#!/usr/bin/env python3
"""Does mixed bfloat16 training reach the float32 ELBO? Same runs, both precisions.

    python benchmarks/bf16_parity.py                       # all workloads
    python benchmarks/bf16_parity.py --workloads=digits_mlp --seeds=3
    python benchmarks/bf16_parity.py --quick               # short smoke pass

Each workload trains `--seeds` runs in float32 (`--mixed_precision=none`)
and the same runs in `mixed_bfloat16` with `tfvae.training.trainer.train`
(same seed: same initial weights, batches and posterior noise), then
compares the final validation -ELBO (nats, the exact evaluation of the run):
the mean over seeds of each precision, their spread (sample standard
deviation over seeds), the relative difference of the means and the
per-seed paired differences. Parity (issue 12): the bfloat16 mean within 1%
of the float32 mean, on runs past the early plateau.

Workloads:

- conv64: the beta-VAE conv network on dSprites-like 64x64 images,
  Bernoulli, latent 10, batch 128, 3000 steps (at 1000 the runs are still
  leaving the early plateau at seed-dependent steps, and the seeds spread by
  +-18 nats; at 3000 by +-3);
- digits_mlp: the default run (8x8 digits, mlp, Gaussian with a learned
  sigma), batch 64, 2000 steps;
- conv64_sigma: conv64 with a Gaussian of learned sigma (sigmoid mean);
- keras28: a user's own model through the public API: the Keras VAE
  example's networks (`keras_example.py`) in a `tfvae.VAE` with a Bernoulli
  likelihood (the example's summed BCE + KL), on the digits upsampled to
  28x28 (1500 train, 297 validation), Adam 1e-3, batch 128, 2000 steps,
  evaluated with `tfvae.evaluate`. In bfloat16 every layer of these networks
  runs in bfloat16 (tfvae keeps only its own networks' latent and output
  layers in float32); tfvae's bias-gradient fix applies.

`--control` adds a third run per seed: float32 with the learning rate
multiplied by 1 + 1e-6. Training a VAE is chaotic: a perturbation that small
moves the final -ELBO of the default run by about a nat, as much as bfloat16
does. The control measures that floor, so a difference between the precisions
can be read against it (bfloat16 against the perturbed float32 run as well as
against the unperturbed one).

With `--warm_start=W`, each seed first trains W steps in float32, and both
precisions continue from that checkpoint for the workload's steps: past the
early plateau, whose random length (when the latents switch on) otherwise
dominates a comparison at a fixed step.

The speed of the runs is printed too, but measure speed with
`benchmarks/throughput.py` on a quiet machine.
"""

import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_list("workloads",
                  ["digits_mlp", "keras28", "conv64", "conv64_sigma"],
                  "Workloads to run (see the module docstring).")
flags.DEFINE_integer("seeds", 3, "Seeds per workload and precision.")
flags.DEFINE_integer("steps", None, "Override every workload's steps.")
flags.DEFINE_bool("quick", False, "Short runs (a smoke test, not evidence).")
flags.DEFINE_string("out", None, "Also write the Markdown table here.")
flags.DEFINE_list("ablate", [],
                  "Undo fixes to measure their effect: bias_gradients (sum "
                  "bfloat16 bias gradients in bfloat16, TensorFlow's CPU "
                  "kernel), float32_layers (latent and output layers in "
                  "bfloat16 too). Both: the code before the fix.")
flags.DEFINE_integer("warm_start", 0,
                     "Float32 steps before both precisions continue from "
                     "the same checkpoint (0: train from scratch).")
flags.DEFINE_list("precisions", ["none", "mixed_bfloat16"],
                  "Precisions to run (none = float32).")
flags.DEFINE_bool("control", False,
                  "Also run float32 with the learning rate x (1 + 1e-6): the "
                  "-ELBO's sensitivity to any tiny perturbation.")

PARITY = 0.01
# The control run: float32, learning rate x (1 + CONTROL_PERTURBATION).
CONTROL = "control"
CONTROL_PERTURBATION = 1e-6
ABLATIONS = ("bias_gradients", "float32_layers")

WORKLOADS = {
    "conv64": dict(
        description="dSprites-like 64x64, conv, Bernoulli, batch 128",
        steps=3000, config=dict(dataset="dsprites", architecture="conv",
                                likelihood="bernoulli", latent_dim=10,
                                batch_size=128)),
    "digits_mlp": dict(
        description="digits 8x8, mlp, Gaussian learned sigma, batch 64",
        steps=2000, config=dict(dataset="digits")),
    "conv64_sigma": dict(
        description="dSprites-like 64x64, conv, Gaussian learned sigma, "
                    "batch 128",
        steps=1000, config=dict(dataset="dsprites", architecture="conv",
                                likelihood="gaussian", sigma="learned",
                                latent_dim=10, batch_size=128)),
    "keras28": dict(
        description="Keras-example networks in tfvae.VAE, 28x28 digits, "
                    "Bernoulli, batch 128",
        steps=2000, config=None),
}
KERAS28_TRAIN = 1500


def run_precision(variant):
  """The --mixed_precision a variant (a precision or CONTROL) trains in."""
  return "none" if variant == CONTROL else variant


def learning_rate_factor(variant):
  return 1.0 + CONTROL_PERTURBATION if variant == CONTROL else 1.0


def train_keras28(variant, seed, steps):
  """The keras28 workload: final validation -ELBO, seconds, summary."""
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tfvae  # pylint: disable=import-outside-toplevel
  from tfvae import precision as tfvae_precision  # pylint: disable=import-outside-toplevel
  import keras_example  # pylint: disable=import-outside-toplevel
  images = keras_example.digits_28x28().astype("float32") / 255.0
  train, validation = images[:KERAS28_TRAIN], images[KERAS28_TRAIN:]
  with tfvae_precision.global_policy(run_precision(variant)) as used:
    keras.utils.set_random_seed(seed)
    shape = images.shape[1:]
    model = tfvae.VAE(keras_example.encoder(shape),
                      keras_example.decoder(shape, activation=None),
                      likelihood=tfvae.likelihoods.Bernoulli())
    model.compile(optimizer=keras.optimizers.Adam(
        1e-3 * learning_rate_factor(variant)))
    batches = (tf.data.Dataset.from_tensor_slices(train)
               .shuffle(len(train), seed=seed).repeat().batch(128))
    started = time.time()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
    result = tfvae.evaluate(model, validation, seed=seed)
    wall = time.time() - started
  return float(result["neg_elbo"]), wall, {"mixed_precision": used}


def train_once(workload, variant, seed, steps, workdir, warm_start=0):
  """Final validation -ELBO and wall seconds of one run.

  `variant` is a precision or CONTROL.

  With warm_start, continues a copy of the float32 run of `warm_start`
  steps (made once per workload and seed) to warm_start + steps.
  """
  import shutil  # pylint: disable=import-outside-toplevel
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.runs import files, paths, rundir  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  if workload == "keras28":
    if warm_start:
      raise app.UsageError("--warm_start applies to the config workloads, "
                           "not keras28")
    return train_keras28(variant, seed, steps)
  precision = run_precision(variant)
  logdir = os.path.join(workdir, f"{workload}-{variant}-{seed}")
  common = dict(seed=seed, eval_every=steps, verbose=0)
  if warm_start:
    base = os.path.join(workdir, f"{workload}-warm-{seed}")
    if not os.path.isdir(base):
      trainer.train(ExperimentConfig.from_flat(**WORKLOADS[workload]["config"], steps=warm_start,
                           checkpoint_every=warm_start, logdir=base,
                           **{**common, "eval_every": warm_start}),
                    print_fn=lambda *a, **k: None)
    shutil.copytree(base, logdir)
    # The warm start's run directory, now a run in the other precision.
    saved = rundir.read_config(logdir).replace_flat(mixed_precision=precision)
    files.atomic_write_text(paths.config_path(logdir), saved.to_json())
    steps += warm_start
  config = ExperimentConfig.from_flat(**WORKLOADS[workload]["config"], steps=steps,
                  mixed_precision=precision, logdir=logdir,
                  checkpoint_every=steps, **common)
  if variant == CONTROL:
    config = config.replace_flat(learning_rate=config.training.learning_rate
                                 * learning_rate_factor(variant))
  started = time.time()
  final = trainer.train(config, print_fn=lambda *a, **k: None)
  return float(final["neg_elbo"]), time.time() - started, final


def spread(values):
  return statistics.stdev(values) if len(values) > 1 else 0.0


def ablate(names):
  """Undoes the named fixes in this process (see --ablate)."""
  import contextlib  # pylint: disable=import-outside-toplevel
  from tfvae import networks  # pylint: disable=import-outside-toplevel
  from tfvae import precision  # pylint: disable=import-outside-toplevel
  if "bias_gradients" in names:
    precision.accurate_bias_gradients = contextlib.nullcontext
  if "float32_layers" in names:
    networks.PRECISION_CRITICAL_DTYPE = None  # the global policy


def compare(workload, seeds, steps, workdir, variants, warm_start=0,
            log=print):
  """Runs the variants (precisions, CONTROL) for every seed; the summary."""
  values = {v: [] for v in variants}
  seconds = {v: 0.0 for v in variants}
  for seed in range(seeds):
    for variant in variants:
      neg_elbo, wall, final = train_once(workload, variant, seed, steps,
                                         workdir, warm_start)
      assert final["mixed_precision"] == run_precision(variant), final[
          "mixed_precision"]
      values[variant].append(neg_elbo)
      seconds[variant] += wall
      log(f"  {workload} seed {seed} {variant:>14}: -ELBO {neg_elbo:.3f} "
          f"({wall:.0f} s)")
  if warm_start:
    steps = f"{warm_start} float32 + {steps}"
  return {"workload": workload, "steps": steps, "seeds": seeds,
          "values": values,
          "seconds": {p: t / seeds for p, t in seconds.items()}}


def _stat(values):
  if not values:
    return "not run"
  return f"{statistics.mean(values):.2f} ± {spread(values):.2f}"


def relative(values, reference):
  """The relative difference of the means, as a signed percentage."""
  mean = statistics.mean(reference)
  return (statistics.mean(values) - mean) / abs(mean)


def paired(values, reference):
  """Per-seed differences (a few seeds), or their mean ± sd (many)."""
  differences = [b - a for a, b in zip(reference, values)]
  if len(differences) <= 5:
    return ", ".join(f"{d:+.2f}" for d in differences)
  return f"{statistics.mean(differences):+.2f} ± {spread(differences):.2f}"


def table(rows, ablated=()):
  """One row per workload: both precisions, their difference, parity.

  With the control run: its -ELBO, its difference from float32 (the
  chaos floor) and bfloat16's difference from it.
  """
  control = any(r["values"].get(CONTROL) for r in rows)
  bf16_name = "bfloat16 -ELBO" + (
      f" (ablated: {', '.join(ablated)})" if ablated else "")
  header = (f"| workload | steps | seeds | float32 -ELBO | {bf16_name} | "
            "bf16 vs f32 | per-seed bf16 - f32 | parity (1%) |")
  rule = "|---|---:|---:|---:|---:|---:|---|---|"
  if control:
    header += (" float32, lr x (1 + 1e-6) | control vs f32 | "
               "per-seed control - f32 | bf16 vs control |")
    rule += "---:|---:|---|---:|"
  lines = [header, rule]
  for r in rows:
    f32 = r["values"].get("none", [])
    bf16 = r["values"].get("mixed_bfloat16", [])
    cells = ["", "", ""]
    if f32 and bf16:
      rel = relative(bf16, f32)
      cells = [f"{100 * rel:+.2f}%", paired(bf16, f32),
               "yes" if abs(rel) <= PARITY else "no"]
    line = (f"| {WORKLOADS[r['workload']]['description']} | {r['steps']} | "
            f"{r['seeds']} | {_stat(f32)} | {_stat(bf16)} | "
            + " | ".join(cells) + " |")
    if control:
      perturbed = r["values"].get(CONTROL, [])
      extra = ["", "", ""]
      if perturbed and f32:
        extra[:2] = [f"{100 * relative(perturbed, f32):+.2f}%",
                     paired(perturbed, f32)]
      if perturbed and bf16:
        extra[2] = f"{100 * relative(bf16, perturbed):+.2f}%"
      line += f" {_stat(perturbed)} | " + " | ".join(extra) + " |"
    lines.append(line)
  return "\n".join(lines)


def main(argv):
  del argv
  unknown = set(FLAGS.workloads) - set(WORKLOADS)
  if unknown:
    raise app.UsageError(f"unknown workloads: {', '.join(sorted(unknown))}")
  if set(FLAGS.precisions) - {"none", "mixed_bfloat16", "mixed_float16"}:
    raise app.UsageError("--precisions takes none, mixed_bfloat16, "
                         "mixed_float16")
  if set(FLAGS.ablate) - set(ABLATIONS):
    raise app.UsageError(f"--ablate takes {', '.join(ABLATIONS)}")
  ablate(FLAGS.ablate)
  variants = FLAGS.precisions + ([CONTROL] if FLAGS.control else [])
  rows = []
  started = time.time()
  with tempfile.TemporaryDirectory() as workdir:
    for workload in FLAGS.workloads:
      steps = FLAGS.steps or (100 if FLAGS.quick else
                              WORKLOADS[workload]["steps"])
      seeds = 1 if FLAGS.quick else FLAGS.seeds
      rows.append(compare(workload, seeds, steps, workdir, variants,
                          FLAGS.warm_start))
      print(table(rows[-1:], FLAGS.ablate), flush=True)
  text = (table(rows, FLAGS.ablate) + f"\n\n(mean ± standard deviation over seeds; "
          f"{time.time() - started:.0f} s in all)")
  print("\n" + text)
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  app.run(main)
