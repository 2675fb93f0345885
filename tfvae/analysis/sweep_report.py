"""A sweep's report: CSV and Markdown tables, rate-distortion plane, HParams.

Each finished run becomes one row with its true quantities, whatever its
weighting (Alemi et al. 2018, "Fixing a Broken ELBO"): rate R = E[KL] and
distortion D = E[-log p(x|z)] in nats, -ELBO = D + R, the importance-weighted
NLL, active units, I(x;z), the effective beta (weight on the summed KL per unit
of summed NLL) and beta_norm = beta_eff J / K (Higgins et al. 2017), plus the
disentanglement metrics where the data set has ground-truth factors.

The rate-distortion plane plots D against R. Minimising D + beta R reaches the
point of the achievable frontier where its slope is -beta, so a beta sweep
traces the frontier from high rate (small beta) to low rate (large beta), and
the lines D + R = const (dashed, "iso-ELBO") show which points have the same
ELBO: on them, a lower rate costs exactly as much distortion as it saves.
Runs of other methods (sigma-VAE, GECO, ControlVAE, capacity, ...) added with
`--include` are drawn with their own markers to show where each lands.
"""

# matplotlib and TensorFlow load only when a report is written.
# pylint: disable=import-outside-toplevel

import csv
import math
import os
import shutil

import numpy as np

from tfvae.analysis import sweep as sweep_lib
from tfvae.runs import files
from tfvae.runs import rundir

# (column, header) of the report in order; columns no row has are dropped.
BASE_COLUMNS = (
    ("name", "run"),
    ("kind", "kind"),
    ("method", "method"),
)
RESULT_COLUMNS = (
    ("kl_weight", "beta (as written)"),
    ("beta_eff", "beta_eff"),
    ("beta_norm", "beta_norm"),
    ("rate", "rate R"),
    ("distortion", "distortion D"),
    ("neg_elbo", "-ELBO"),
    ("bits_per_dim", "bits/dim"),
    ("iwae_nll", "IWAE NLL"),
    ("iw_samples", "k"),
    ("active_units", "active units"),
    ("latent_dim", "J"),
    ("mutual_information", "I(x;z)"),
    ("index_code_mi", "MI (index code)"),
    ("total_correlation", "TC"),
    ("dimwise_kl", "dim-wise KL"),
    ("num_collapsed", "collapsed"),
    ("step", "step"),
)
METRIC_COLUMNS = (
    ("mig", "MIG"),
    ("beta_vae", "beta-VAE"),
    ("factor_vae", "FactorVAE"),
    ("dci_disentanglement", "DCI D"),
    ("dci_completeness", "DCI C"),
    ("dci_informativeness", "DCI I"),
    ("sap", "SAP"),
)
# Grid flags that set the KL weight besides each balancer's own
# (`weight_flags`): points of one curve differ only in them.
WEIGHT_FLAGS = ("beta", "beta_norm", "sigma", "free_bits")
TEXT_COLUMNS = ("name", "kind", "method", "preset", "status")
INCLUDED_MARKERS = ("*", "s", "D", "^", "P", "X", "v", "h")


def _likelihood_label(config):
  """How the run's likelihood family sets the weight itself, or None."""
  from tfvae import likelihoods  # pylint: disable=import-outside-toplevel
  name = config.get("likelihood")
  if name not in likelihoods.names():
    return None
  return likelihoods.lookup(name).weighting_label(config)


def weight_flags():
  """Grid flags that set the KL weight: the general ones and every
  `--balancer=` method's `weight_settings`."""
  from tfvae import balancing  # pylint: disable=import-outside-toplevel
  return tuple(dict.fromkeys(WEIGHT_FLAGS + tuple(
      name for cls in balancing.selectable() for name in cls.weight_settings)))


def _balancer_label(name):
  """The report's name of a balancer (its class's `label`)."""
  from tfvae import balancing  # pylint: disable=import-outside-toplevel
  if name not in balancing.names():
    return name
  return balancing.lookup(name).label or name


def method_label(config):
  """A short name of how a run sets its KL weight."""
  if config.get("model") == "reference":
    return f"question ({config.get('reference_rec')})"
  balancer = config.get("balancer", "none")
  if balancer != "none":
    return _balancer_label(balancer)
  parts = []
  family_label = _likelihood_label(config)
  if family_label:
    parts.append(family_label)
  if config.get("kl_schedule", "constant") != "constant":
    parts.append(f"{config['kl_schedule']} schedule")
  if config.get("free_bits", 0) > 0:
    parts.append("free bits")
  return ", ".join(parts) or "fixed beta"


def collect_row(name, kind, logdir, evaluation_path=None, values=None):
  """One report row from a run's config, final metrics and evaluation.

  Evaluation numbers (fixed seed, with the IWAE NLL and metrics) take
  precedence over the final training metrics.
  """
  config = rundir.read_flat_config(logdir) or {}
  final = rundir.read_final_metrics(logdir)
  evaluation = (files.read_json_or_none(evaluation_path) if evaluation_path
                else None)
  source = dict(final or {})
  source.update(evaluation or {})
  row = {"name": name, "kind": kind, "method": method_label(config),
         "logdir": logdir, "dataset": config.get("dataset")}
  row.update(values or {})
  for key, _ in RESULT_COLUMNS + METRIC_COLUMNS:
    if key in source and source[key] is not None:
      row[key] = source[key]
  if "collapsed_dims" in source:
    row["num_collapsed"] = len(source["collapsed_dims"])
  row["config"] = config
  return row


def report_columns(rows, grid_names=()):
  """[(key, header)] of the columns that at least one row has."""
  columns = list(BASE_COLUMNS) + [
      (n, n if n == "preset" else f"--{n}") for n in grid_names]
  if any(row.get("status") for row in rows):  # Early stopping (engines).
    columns.append(("status", "status"))
  for key, header in RESULT_COLUMNS + METRIC_COLUMNS:
    if any(row.get(key) is not None for row in rows):
      columns.append((key, header))
  return columns


def _format(key, value):
  if value is None or value == "":
    return ""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return str(value)
  if isinstance(value, int) or key in ("iw_samples", "step", "latent_dim",
                                       "active_units", "num_collapsed"):
    return str(int(value))
  if not math.isfinite(value):
    return str(value)
  if key in ("kl_weight", "beta_eff", "beta_norm"):
    return f"{value:.4g}"
  return f"{value:.3f}"


def write_csv(rows, columns, path):
  """The table with full precision, one row per run."""
  text_rows = [[("" if row.get(key) is None else row.get(key))
                for key, _ in columns] for row in rows]
  with files.atomic_path(path) as tmp:
    with open(tmp, "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow([key for key, _ in columns])
      writer.writerows(text_rows)


def markdown_table(rows, columns):
  """A GitHub Markdown table of the rows (numbers rounded for reading)."""
  lines = ["| " + " | ".join(header for _, header in columns) + " |",
           "|" + "|".join("---" if key in TEXT_COLUMNS else "---:"
                          for key, _ in columns) + "|"]
  for row in rows:
    lines.append("| " + " | ".join(_format(key, row.get(key))
                                   for key, _ in columns) + " |")
  return "\n".join(lines) + "\n"


def _curves(rows, grid_names):
  """Sweep rows grouped into curves: equal grid values but the weight flags."""
  weights = weight_flags()
  other = [n for n in grid_names if n not in weights]
  curves = {}
  for row in rows:
    key = tuple((n, row.get(n)) for n in other)
    curves.setdefault(key, []).append(row)
  return curves


def iso_elbo_levels(values, count=6):
  """Evenly spaced 'nice' -ELBO levels covering the given -ELBO values."""
  from matplotlib import ticker
  lo, hi = float(np.min(values)), float(np.max(values))
  if hi - lo < 1e-9:
    hi = lo + 1.0
  levels = list(ticker.MaxNLocator(count).tick_values(lo, hi))
  return sorted(set(levels + [lo]))


def _merge_coincident(points, x_span, y_span, tolerance=0.02):
  """Groups (x, y, label) points closer than `tolerance` of the axis spans."""
  groups = []
  for x, y, label in points:
    for group in groups:
      if (abs(group[0] - x) <= tolerance * x_span and
          abs(group[1] - y) <= tolerance * y_span):
        group[2].append(label)
        break
    else:
      groups.append([x, y, [label]])
  return groups


def plot_rd_plane(rows, path, grid_names=(), title=None):
  """Writes the rate-distortion plane (PNG, matplotlib's Agg backend).

  Sweep points are joined in beta order and labelled with their beta_eff
  below-left of the curve; included runs get their own markers, labelled
  above-right (points of other methods lie on or above the frontier). The
  dashed lines are D + R = const, labelled with the -ELBO; the darker one
  passes through the best (lowest) -ELBO of the plot.
  """
  # Long: one matplotlib figure, drawn in order.
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt

  plotted = [r for r in rows if r.get("rate") is not None and
             r.get("distortion") is not None]
  fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
  sweep_rows = [r for r in plotted if r["kind"] == "sweep"]
  included = [r for r in plotted if r["kind"] != "sweep"]
  if plotted:
    rates = np.array([r["rate"] for r in plotted])
    dists = np.array([r["distortion"] for r in plotted])
    x_span = max(rates.max() - rates.min(), 1e-3)
    y_span = max(dists.max() - dists.min(), 1e-3)
  for key, curve in _curves(sweep_rows, grid_names).items():
    curve = sorted(curve, key=lambda r: r.get("beta_eff", 0.0))
    label = "beta sweep" + ("" if not key else " (" + ", ".join(
        f"{n}={v}" for n, v in key) + ")")
    ax.plot([r["rate"] for r in curve], [r["distortion"] for r in curve],
            "o-", markersize=6, linewidth=1.5, label=label, zorder=3)
    labelled = [(r["rate"], r["distortion"],
                 f"{r['beta_eff']:.3g}" if r.get("beta_eff") is not None
                 else r["name"]) for r in curve]
    for x, y, texts in _merge_coincident(labelled, x_span, y_span):
      ax.annotate("β=" + ", ".join(texts), (x, y), textcoords="offset points",
                  xytext=(-7, -13), ha="right", fontsize=8)
  for i, r in enumerate(included):
    marker = INCLUDED_MARKERS[i % len(INCLUDED_MARKERS)]
    ax.plot(r["rate"], r["distortion"], marker, markersize=11,
            markeredgecolor="black", label=f"{r['name']} [{r['method']}]",
            zorder=4)
    beta = r.get("beta_eff")
    text = r["method"] + (f", β_eff={beta:.3g}" if beta is not None else "")
    ax.annotate(text, (r["rate"], r["distortion"]), textcoords="offset points",
                xytext=(9, 5), fontsize=8)

  if plotted:
    x_lo = min(0.0, rates.min()) - 0.12 * x_span
    x_hi = rates.max() + 0.15 * x_span
    y_lo, y_hi = dists.min() - 0.1 * y_span, dists.max() + 0.1 * y_span
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    xs = np.array([x_lo, x_hi])
    best = float(np.min(rates + dists))
    for level in iso_elbo_levels(rates + dists):
      is_best = abs(level - best) < 1e-9
      ax.plot(xs, level - xs, "--", color="dimgrey" if is_best else "silver",
              linewidth=1.1 if is_best else 0.8, zorder=1)
      # Label where the line enters the visible box (left edge or top edge).
      x_text = max(x_lo, level - y_hi)
      if x_text < x_hi:
        ax.annotate(f"{level:.4g}" + (" (best)" if is_best else ""),
                    (x_text, level - x_text), textcoords="offset points",
                    xytext=(3, -9), fontsize=7, color="dimgrey")
    ax.plot([], [], "--", color="silver", linewidth=0.8,
            label="iso-ELBO lines D + R = const (labelled: -ELBO)")
  ax.set_xlabel("rate R = E[KL(q(z|x) || p(z))]  (nats)")
  ax.set_ylabel("distortion D = E[-log p(x|z)]  (nats)")
  datasets = sorted({str(r.get("dataset")) for r in plotted})
  ax.set_title(title or "Rate-distortion plane" +
               (f" ({', '.join(datasets)}, validation)" if datasets else ""))
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8, loc="upper right")
  fig.tight_layout()
  with files.atomic_path(path, suffix=".png") as tmp:
    fig.savefig(tmp)
  plt.close(fig)


def _hparam_value(value, numeric):
  if value is None:
    return float("nan") if numeric else "none"
  if isinstance(value, bool):
    return value
  if isinstance(value, (int, float)):
    return float(value) if numeric else str(value)
  return str(value)


def write_hparams(rows, directory, grid_names=()):
  """TensorBoard HParams: one session per run under `<directory>/<name>`.

  The hyperparameters are the grid flags (read from each run's config, so
  included runs have them too), the method and the kind; the metrics are the
  report's numeric columns. Anything already in `directory` is replaced.
  """
  from tfvae.callbacks import tensorboard  # pylint: disable=import-outside-toplevel

  # The directory is the report's own output: rewrite it, so a resumed sweep
  # does not show every session twice.
  if os.path.isdir(directory):
    shutil.rmtree(directory)
  names = [n for n in grid_names if n != "preset"]
  numeric = {n: all(isinstance(r["config"].get(n), (int, float, type(None)))
                    and not isinstance(r["config"].get(n), bool)
                    for r in rows) for n in names}
  hparams = names + ["method", "kind"]
  if "preset" in grid_names:
    hparams.append("preset")
  metric_keys = [key for key, _ in RESULT_COLUMNS + METRIC_COLUMNS
                 if key not in ("step", "iw_samples", "latent_dim") and
                 any(isinstance(r.get(key), (int, float)) for r in rows)]
  sessions = []
  for row in rows:
    values = {n: _hparam_value(row["config"].get(n), numeric[n]) for n in names}
    values["method"] = row["method"]
    values["kind"] = row["kind"]
    if "preset" in grid_names:
      values["preset"] = str(row.get("preset", "none"))
    scalars = {key: float(row[key]) for key in metric_keys
               if isinstance(row.get(key), (int, float))}
    sessions.append((row["name"], values, scalars, int(row.get("step", 0))))
  tensorboard.write_hparams_sessions(directory, hparams, metric_keys, sessions)


def write_report(rows, sweep_dir, grid_names=(), hparams=True):
  """sweep.csv, sweep.md, rd_plane.png (and HParams); returns their paths."""
  columns = report_columns(rows, grid_names)
  paths = {
      "csv": os.path.join(sweep_dir, "sweep.csv"),
      "markdown": os.path.join(sweep_dir, "sweep.md"),
      "plot": os.path.join(sweep_dir, "rd_plane.png"),
  }
  write_csv(rows, columns, paths["csv"])
  table = markdown_table(rows, columns)
  iw = sorted({int(r["iw_samples"]) for r in rows if r.get("iw_samples")})
  caption = (
      "Rate R, distortion D, -ELBO = D + R and the IWAE NLL"
      + (f" (k = {', '.join(map(str, iw))})" if iw else "")
      + " in nats per example on each run's validation set; beta_eff is the "
      "weight on the summed KL per unit of summed NLL, beta_norm = beta_eff "
      "J / K.\n\n")
  files.atomic_write_text(paths["markdown"], caption + table)
  plot_rd_plane(rows, paths["plot"], grid_names)
  if hparams:
    paths["hparams"] = os.path.join(sweep_dir, sweep_lib.HPARAMS_DIR)
    write_hparams(rows, paths["hparams"], grid_names)
  return paths, table
