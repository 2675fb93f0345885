"""The sentence VAE's remedies for posterior collapse, over seeds: a markdown table.

Bowman et al. 2016 ("Generating Sentences from a Continuous Space") show that
a plain VAE with an autoregressive decoder drives the KL to ~0 and that KL
annealing and word dropout keep information in z; free bits (Kingma et al.
2016) and a smaller KL weight (beta < 1) are the other usual fixes. This
reruns `scripts/flags/sentence_vae.flags` (built-in sentences, GRUs, latent
16) with

    plain              constant KL weight 1, no word dropout
    annealing          Bowman's logistic annealing, no word dropout
    annealing + wd     the flagfile: annealing and word dropout 0.3
    free bits          free bits 0.25 nats per dimension, no annealing
    beta 0.5           constant KL weight 0.5, no annealing

for each seed, and prints per-sentence NLL (the -ELBO; the IWAE NLL with
--iw_samples), per-token perplexity over real tokens, KL (rate), mutual
information and active units as mean ± sd over the seeds, with the machine.
The logistic schedule is scaled to the run: x0 = steps / 3 and k x0 = 6.25
(Sentence-VAE's k = 0.0025, x0 = 2500).

    python benchmarks/sentence_vae_table.py                 # 3 seeds x 1500 steps
    python benchmarks/sentence_vae_table.py --jobs=2 --workdir=runs/sentence_table
    python benchmarks/sentence_vae_table.py --steps=20 --seeds=0 --tiny
"""

import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.measure_tables import machine  # pylint: disable=wrong-import-position

FLAGFILE = os.path.join(ROOT, "scripts", "flags", "sentence_vae.flags")
NO_ANNEALING = ["--kl_schedule=constant"]
# The flagfile's schedule and word dropout are each variant's own.
VARIANT_PREFIXES = ("--kl_", "--word_dropout")


def base_flags():
  """The flagfile's settings but its KL schedule and word dropout."""
  with open(FLAGFILE) as f:
    lines = [line.strip() for line in f]
  return [line for line in lines if line.startswith("--") and
          not line.startswith(VARIANT_PREFIXES)]


def variants(steps):
  """(label, extra flags) of each row; the annealing scaled to `steps`."""
  x0 = max(1, steps // 3)
  annealing = ["--kl_schedule=sigmoid", f"--kl_warmup_steps={2 * x0}",
               "--kl_start=0", "--kl_stop=1",
               f"--kl_sigmoid_x0={x0}", f"--kl_sigmoid_k={6.25 / x0:.6g}"]
  return [
      ("plain", NO_ANNEALING + ["--word_dropout=0"]),
      ("annealing", annealing + ["--word_dropout=0"]),
      ("annealing + word dropout 0.3", annealing + ["--word_dropout=0.3"]),
      ("free bits 0.25", NO_ANNEALING + ["--word_dropout=0",
                                         "--free_bits=0.25"]),
      ("beta 0.5", NO_ANNEALING + ["--word_dropout=0", "--beta=0.5"]),
  ]


def _script(name, *args):
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, env.get("PYTHONPATH")) if p)
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name),
                         *args], capture_output=True, text=True, env=env,
                        cwd=ROOT, check=False)
  if proc.returncode != 0:
    raise SystemExit(f"{name} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def _read(path):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def run_once(extra, seed, logdir, steps, iw_samples, tiny):
  """Trains one run; returns its numbers (the evaluation's with IWAE).

  A run of `steps` steps already in `logdir` (with its IWAE numbers when
  asked for) is read back, not retrained: an interrupted table continues.
  """
  size = ["--hidden_units=32", "--embedding_dim=16"] if tiny else []
  final = os.path.join(logdir, "final_metrics.json")
  result = _read(final)
  if result is None or result.get("step") != steps:
    _script("train.py", *base_flags(), *extra, *size,
            f"--seed={seed}", f"--steps={steps}", f"--eval_every={steps}",
            f"--logdir={logdir}", "--overwrite", "--verbose=0")
    result = _read(final)
  if iw_samples:
    output = os.path.join(logdir, f"iwae{iw_samples}.json")
    if _read(output) is None:
      _script("evaluate.py", f"--logdir={logdir}",
              f"--iw_samples={iw_samples}", f"--output_json={output}",
              "--metrics=none")
    result.update(_read(output))
  return result


COLUMNS = [("neg_elbo", "NLL ≤ −ELBO (nats)", 2),
           ("iwae_nll", "IWAE NLL (nats)", 2),
           ("perplexity", "perplexity (−ELBO)", 2),
           ("iwae_perplexity", "perplexity (IWAE)", 2),
           ("rate", "KL (nats)", 2), ("mutual_information", "MI (nats)", 3),
           ("active_units", "active units (of 16)", 1)]


def mean_sd(values, digits):
  mean = sum(values) / len(values)
  if len(values) < 2:
    return f"{mean:.{digits}f}"
  sd = math.sqrt(sum((v - mean)**2 for v in values) / (len(values) - 1))
  return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def table(rows, iw_samples):
  columns = [c for c in COLUMNS if iw_samples or "iwae" not in c[0]]
  lines = ["| run | " + " | ".join(c[1] for c in columns) + " |",
           "|---|" + "---|" * len(columns)]
  for label, results in rows:
    cells = [mean_sd([r[key] for r in results], digits)
             for key, _, digits in columns]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=1500)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--iw_samples", type=int, default=100,
                      help="k of the IWAE NLL (0 skips it)")
  parser.add_argument("--tiny", action="store_true",
                      help="small GRUs (a smoke run, not a measurement)")
  parser.add_argument("--workdir", default=None,
                      help="run directories (finished runs are reused)")
  parser.add_argument("--jobs", type=int, default=1,
                      help="runs trained at once (wall times then share "
                      "the cores; the numbers do not change)")
  args = parser.parse_args(argv)
  seeds = [int(s) for s in args.seeds.split(",")]
  workdir = args.workdir or tempfile.mkdtemp(prefix="sentence_vae_table-")
  runs = [(label, extra, seed, os.path.join(workdir, f"variant{index}",
                                            f"seed{seed}"))
          for index, (label, extra) in enumerate(variants(args.steps))
          for seed in seeds]

  def one(run):
    label, extra, seed, logdir = run
    result = run_once(extra, seed, logdir, args.steps, args.iw_samples,
                      args.tiny)
    print(f"{label}, seed {seed}: perplexity {result['perplexity']:.2f}, "
          f"KL {result['rate']:.3f}", file=sys.stderr, flush=True)
    return result

  with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
    results = list(pool.map(one, runs))
  rows = {}
  for (label, *_), result in zip(runs, results):
    rows.setdefault(label, []).append(result)
  rows = list(rows.items())
  print(f"Sentence VAE on `sentences`, {args.steps} steps, seeds "
        f"{args.seeds}{' (tiny networks)' if args.tiny else ''}, validation "
        f"set; mean ± sd over seeds.\n")
  print(table(rows, args.iw_samples))
  print()
  for line in machine():
    print(f"- {line}")


if __name__ == "__main__":
  main()
