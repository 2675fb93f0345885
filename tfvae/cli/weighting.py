r"""tfvae-weighting: one VAE loss in every weighting convention, before training.

    tfvae-weighting --from=pythae --beta=4 --reconstruction_loss=mse \
        --input_shape=64,64,1 --latent_dim=10
    tfvae-weighting --from=flagfile:scripts/flags/question_mean_mean_0.1.flags
    tfvae-weighting --from=run:runs/default --json
    tfvae-weighting --from=gin:model.gin
    tfvae-weighting --recommend --dataset=digits --steps=1500

Prints the weight in ELBO units (beta_eff), Higgins' beta_norm, the
question's L2/sum units (beta_l2) and the implied Gaussian sigma^2, the same
objective as each peer writes it, and the tfvae command line that trains it
(`tfvae.conventions`). `--recommend` trains tfvae's optimal-sigma Gaussian
briefly and reports the weight that maximises the likelihood. Bad input is
one line on stderr and exit status 2.
"""

import re

from absl import app
from absl import flags

from tfvae.cli import guard as cli

PROGRAM = "weighting.py"
FLAGS = flags.FLAGS

RECOMMEND_CAVEAT = (
    "This is the ELBO-optimal point: the weight at which a Gaussian decoder's "
    "sigma maximises the likelihood (sigma*^2 = MSE, Rybkin et al. 2021), "
    "estimated from a short run. It is not a disentanglement choice: "
    "beta-VAE's disentangling weights are larger (Higgins et al. 2017). It "
    "moves with the fit: sigma*^2 is the decoder's mean squared error, so a "
    "decoder that fits better implies a smaller weight.")


def _define_sentence_vae_flags(d):
  """--from=sentence_vae's settings (timbmg/Sentence-VAE's names)."""
  flags.DEFINE_string("anneal_function", None, "sentence_vae: Sentence-VAE's "
                      "-af, logistic | linear (default logistic).", **d)
  flags.DEFINE_float("k", None, "sentence_vae: the logistic annealing's "
                     "slope -k (default 0.0025).", **d)
  flags.DEFINE_float("x0", None, "sentence_vae: the annealing's -x0 "
                     "(default 2500).", **d)
  flags.DEFINE_float("step", None, "sentence_vae: the objective at this "
                     "step (a constant weight; default: the annealed "
                     "objective with tfvae's schedule flags).", **d)
  flags.DEFINE_integer("max_sequence_length", None, "sentence_vae: "
                       "--max_sequence_length, tokens per sentence (default "
                       "60).", **d)
  flags.DEFINE_integer("pad_idx", None, "sentence_vae: the padding id its "
                       "NLL ignores (default 0).", **d)


def define_flags(flag_values=FLAGS):
  """The program's flags (on `flag_values`)."""
  d = dict(flag_values=flag_values)
  flags.DEFINE_string(
      "from", None,
      "The convention to read: pythae | disentanglement_lib | disent | "
      "keras_example | question | tfp_layers | pytorch_vae | tvae | "
      "sentence_vae | tfvae, or "
      "flagfile:PATH (a tfvae flagfile), run:DIR (a tfvae run directory), "
      "gin:PATH (a disentanglement_lib gin file), pythae_config:PATH (a "
      "pythae model_config.json).", **d)
  flags.DEFINE_float("beta", None, "The KL weight as the source writes it.",
                     **d)
  flags.DEFINE_float("gamma", None, "disentanglement_lib annealed_vae.gamma "
                     "(a capacity objective).", **d)
  flags.DEFINE_float("c_max", None, "annealed_vae.c_max in nats (default "
                     "25).", **d)
  flags.DEFINE_integer("iteration_threshold", None,
                       "annealed_vae.iteration_threshold (default 100000).",
                       **d)
  flags.DEFINE_string(
      "reconstruction_loss", None,
      "The source's reconstruction loss: pythae mse|bce; "
      "disentanglement_lib l2|bernoulli; disent mse|mse4|normal|bce|"
      "bernoulli|continuous_bernoulli; question l2|bce; tfvae gaussian|"
      "bernoulli|continuous_bernoulli.", **d)
  flags.DEFINE_float("loss_factor", None, "tvae: CTGAN/SDV TVAE's "
                     "loss_factor on the reconstruction (default 2).", **d)
  flags.DEFINE_string("columns", None, "tvae: the table's tfvae column spec "
                      "(gaussian:4,categorical:3,...), carried into the "
                      "tfvae flags.", **d)
  _define_sentence_vae_flags(d)
  flags.DEFINE_string("rec_reduction", None, "question / tfvae: sum | mean "
                      "of the reconstruction over features.", **d)
  flags.DEFINE_string("kl_reduction", None, "question / tfvae: sum | mean of "
                      "the KL over latent dimensions.", **d)
  flags.DEFINE_string("loss_reduction", None, "disent: mean | mean_sum | "
                      "sum.", **d)
  flags.DEFINE_string("input_shape", None, "Shape of one example, e.g. "
                      "64,64,1 (K is its product).", **d)
  flags.DEFINE_integer("latent_dim", None, "Number of latent dimensions J.",
                       **d)
  flags.DEFINE_string("sigma", None, "tfvae: the Gaussian decoder's fixed "
                      "sigma (only where the convention has a Gaussian "
                      "decoder).", **d)
  flags.DEFINE_bool("json", False, "Print one JSON object instead of the "
                    "table.", **d)
  flags.DEFINE_bool("recommend", False, "Train tfvae's optimal-sigma "
                    "Gaussian on --dataset for --steps and report the weight "
                    "it implies in every convention.", **d)
  flags.DEFINE_string("dataset", "digits", "--recommend: the data set "
                      "(tfvae's --dataset values).", **d)
  flags.DEFINE_integer("steps", 1500, "--recommend: training steps.", **d)
  flags.DEFINE_integer("seed", 0, "--recommend: seed.", **d)
  flags.DEFINE_string("logdir", None, "--recommend: keep the run here "
                      "(default: a temporary directory, removed).", **d)


_READ_FLAGS = ("beta", "gamma", "c_max", "iteration_threshold",
               "reconstruction_loss", "rec_reduction", "kl_reduction",
               "loss_reduction", "input_shape", "latent_dim", "sigma",
               "loss_factor", "columns", "anneal_function", "k", "x0",
               "step", "max_sequence_length", "pad_idx")


# --------------------------------------------------------------- formatting


def _g(value):
  return "n/a" if value is None else f"{value:.6g}"


def _shape(shape):
  return "x".join(str(d) for d in shape)


def _peer_module(convention):
  from tfvae import conventions  # pylint: disable=import-outside-toplevel
  return conventions.PEERS.get(convention.name)


def report(source, spec=None):
  """The conversion of `source` as a JSON-ready dict."""
  from tfvae import conventions  # pylint: disable=import-outside-toplevel
  out = source.summary()
  module = _peer_module(source)
  out["source"] = spec or source.name
  out["peer_version"] = getattr(module, "VERSION", None)
  out["peer_file"] = getattr(module, "SOURCE", None)
  rows = []
  for row in conventions.equivalents(source):
    item = {"peer": row.peer, "label": row.label}
    if row.convention is None:
      item["reason"] = row.reason
    else:
      c = row.convention
      item.update({"formula": c.formula, "weight_name": c.weight_name,
                   "weight": c.weight, "beta_eff": c.beta_eff,
                   "beta_norm": c.beta_norm, "beta_l2": c.beta_l2,
                   "sigma2": c.sigma2})
    rows.append(item)
  out["equivalents"] = rows
  return out


def format_table(rep):
  """The human-readable form of `report`."""
  lines = [f"source: {rep['label']}"]
  if rep.get("peer_version"):
    lines.append(f"  follows {rep['peer_version']}: {rep['peer_file']}")
  lines.append(f"  loss as written: {rep['formula']}, {rep['weight_name']} = "
               f"{_g(rep['weight'])}")
  lines.append(f"  event shape {_shape(rep['event_shape'])} (K = "
               f"{rep['num_features']}), latent J = {rep['latent_dim']}, "
               f"decoder: {rep['likelihood']}")
  if rep["capacity"]:
    lines.append(f"  capacity: C_max = {_g(rep['capacity']['c_max'])} nats "
                 f"over {rep['capacity']['steps']} steps")
  lines.append("")
  units = [
      ("beta_eff (ELBO units: weight on summed KL per summed NLL)",
       rep["beta_eff"]),
      ("beta_norm = beta_eff J / K (Higgins et al.)", rep["beta_norm"]),
      ("beta_l2 (the question's units: per summed squared error)",
       rep["beta_l2"]),
      ("sigma^2 of the Gaussian decoder", rep["sigma2"]),
  ]
  width = max(len(name) for name, _ in units)
  lines += [f"  {name:<{width}}  {_g(value)}" for name, value in units]
  lines.append("")
  lines.append("the same objective in each convention (up to a constant "
               "factor):")
  rows = [("convention", "loss as written", "weight")]
  reasons = {row["reason"] for row in rep["equivalents"] if "reason" in row}
  for row in rep["equivalents"]:
    if "reason" not in row:
      rows.append((row["label"], row["formula"],
                   f"{row['weight_name']} = {_g(row['weight'])}"))
    elif len(reasons) > 1:
      rows.append((row["label"], "-", f"n/a: {row['reason']}"))
    else:
      rows.append((row["label"], "-", "n/a (below)"))
  w0 = max(len(r[0]) for r in rows)
  w1 = max(len(r[1]) for r in rows)
  lines += [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
  if len(reasons) == 1:
    lines.append(f"  n/a: {reasons.pop()}")
  lines.append("")
  lines.append("train it with tfvae (add --dataset, --steps, --logdir):")
  lines.append(f"  {rep['command']}")
  if rep["notes"]:
    lines.append("")
    lines += [f"note: {n}" for n in rep["notes"]]
  return "\n".join(lines)


# ---------------------------------------------------------------- recommend


def train_optimal_sigma(dataset, steps, latent_dim, seed, logdir,
                        print_fn=print):
  """Trains tfvae's optimal-sigma Gaussian VAE (beta 1, sum/sum) briefly.

  The one place this program calls the trainer.

  Returns:
    (sigma, event_shape, final_metrics): the decoder sigma at the end
    (sigma*^2 = the last training batch's MSE), the data's event shape and
    the run's final metrics.
  """
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  config = ExperimentConfig.from_flat(dict(
      dataset=dataset, model="vae", likelihood="gaussian", sigma="optimal",
      rec_reduction="sum", kl_reduction="sum", beta=1.0,
      latent_dim=latent_dim, steps=steps, eval_every=steps,
      checkpoint_every=steps, keep_checkpoints=1, seed=seed, logdir=logdir,
      resume="false", overwrite=True, verbose=0)).validate()
  from tfvae.training import preflight  # pylint: disable=import-outside-toplevel
  data = preflight.check(config)
  cli.import_tensorflow_quietly()
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  final = trainer.train(config, print_fn=print_fn, data=data)
  return float(final["sigma"]), tuple(int(d) for d in data.image_shape), final


def recommend(dataset, steps, latent_dim, seed, logdir=None, print_fn=print):
  """Trains briefly; returns the report of the ELBO-optimal weighting."""
  import shutil  # pylint: disable=import-outside-toplevel
  import tempfile  # pylint: disable=import-outside-toplevel
  from tfvae import conventions  # pylint: disable=import-outside-toplevel
  temporary = logdir is None
  if temporary:
    logdir = tempfile.mkdtemp(prefix="tfvae-recommend-")
  try:
    sigma, shape, final = train_optimal_sigma(dataset, steps, latent_dim,
                                              seed, logdir, print_fn)
  finally:
    if temporary:
      shutil.rmtree(logdir, ignore_errors=True)
  source = conventions.optimal_sigma_convention(sigma**2, shape, latent_dim)
  rep = report(source, spec=f"recommend:{dataset}")
  rep["recommendation"] = {
      "dataset": dataset, "steps": final["step"], "sigma": sigma,
      "sigma2": sigma**2, "beta_l2": 2 * sigma**2,
      "neg_elbo": final["neg_elbo"], "rate": final["rate"],
      "distortion": final["distortion"], "caveat": RECOMMEND_CAVEAT,
  }
  return rep


def format_recommendation(rep):
  r = rep["recommendation"]
  head = [
      f"optimal-sigma Gaussian VAE on {r['dataset']}, {r['steps']} steps "
      f"(latent J = {rep['latent_dim']}): sigma* = {r['sigma']:.5g}, "
      f"sigma*^2 = {r['sigma2']:.5g}",
      f"  validation -ELBO {r['neg_elbo']:.4g} nats (rate {r['rate']:.4g}, "
      f"distortion {r['distortion']:.4g})",
      f"  implied weight: beta_l2 = 2 sigma*^2 = {r['beta_l2']:.5g} on the "
      "summed KL per summed squared error (beta_eff = 1 at sigma*)",
      "  or let tfvae fit sigma while it trains: --likelihood=gaussian "
      "--sigma=optimal (or learned)",
      "",
      "caveat: " + r["caveat"],
      "",
  ]
  return "\n".join(head) + format_table(rep)


# --------------------------------------------------------------------- main

# Sources whose reading loads tfvae's config or likelihood registry.
TFVAE_SOURCES = ("tfvae", "flagfile", "run", "tvae", "sentence_vae")


def _run():
  import json  # pylint: disable=import-outside-toplevel
  from tfvae import conventions  # pylint: disable=import-outside-toplevel
  from tfvae.errors import ConfigError  # pylint: disable=import-outside-toplevel
  given = {name: FLAGS[name].value for name in _READ_FLAGS
           if FLAGS[name].present}
  if FLAGS.recommend:
    extra = sorted(set(given) - {"latent_dim"})
    if FLAGS["from"].value is not None:
      extra.insert(0, "from")
    if extra:
      raise ConfigError(
          "--recommend trains its own model (--dataset, --steps, "
          "--latent_dim, --seed, --logdir); drop " +
          ", ".join(f"--{n}" for n in extra))
    if FLAGS.steps < 1:
      raise ConfigError(f"--steps must be >= 1, got {FLAGS.steps}")
    latent_dim = given.get("latent_dim", 8)
    rep = recommend(FLAGS.dataset, FLAGS.steps, latent_dim, FLAGS.seed,
                    FLAGS.logdir, print_fn=lambda *_: None)
    print(json.dumps(rep, indent=2) if FLAGS.json else
          format_recommendation(rep))
    return
  spec = FLAGS["from"].value
  if not spec:
    raise ConfigError("--from is required (pythae, disentanglement_lib, "
                      "disent, keras_example, question, tfp_layers, "
                      "pytorch_vae, tvae, sentence_vae, tfvae, "
                      "flagfile:PATH, run:DIR, "
                      "gin:PATH, pythae_config:PATH), or give --recommend")
  if spec.partition(":")[0] in TFVAE_SOURCES:
    # tfvae's own conventions read its config and likelihood registry, which
    # load TensorFlow: load it first, its start-up lines kept off stderr.
    cli.import_tensorflow_quietly()
  try:
    source = conventions.read(spec, **given)
  except ConfigError as e:
    raise ConfigError(_flag_names(str(e))) from None
  except (ValueError, TypeError) as e:
    raise ConfigError(_flag_names(str(e))) from None
  rep = report(source, spec)
  print(json.dumps(rep, indent=2) if FLAGS.json else format_table(rep))


def _flag_names(message):
  """The library names its arguments; on the command line they are flags."""
  names = "|".join(_READ_FLAGS)
  return re.sub(rf"(?<![\w\-.])({names})(?=[=, )]|$)", r"--\1", message)


def _main(argv):
  if len(argv) > 1:
    cli.fail(PROGRAM, f"unexpected arguments: {' '.join(argv[1:])}")
  cli.run_guarded(PROGRAM, _run)


def main(argv=None):
  """Entry point of `tfvae-weighting` and `scripts/weighting.py`."""
  if "from" not in FLAGS:
    define_flags()
  app.run(_main, argv=argv, flags_parser=cli.parse)


if __name__ == "__main__":
  main()
