"""Where an evaluation's results go: paths, JSON and the printed table."""

import os
import re

from tfvae.errors import ConfigError
from tfvae.evaluation.metrics import HEADLINE_METRICS
from tfvae.runs import files
from tfvae.runs import paths

HEADLINE_LABELS = {
    "mig": "MIG", "beta_vae": "beta-VAE score",
    "factor_vae": "FactorVAE score",
    "dci_disentanglement": "DCI disentanglement",
    "dci_completeness": "DCI completeness",
    "dci_informativeness": "DCI informativeness",
    "sap": "SAP"}


def _slug(text):
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def default_output_paths(logdir, dataset=None):
  """(JSON path, TensorBoard directory) of an evaluation of a run.

  `<logdir>/evaluation.json` and `<logdir>/evaluation/`; with another data
  set both names get its name appended, so no evaluation overwrites another.
  """
  suffix = "" if dataset is None else "-" + _slug(os.path.basename(
      dataset.rstrip("/")) if ":" in dataset else dataset)
  stem = os.path.splitext(paths.EVALUATION_FILE)[0]
  return (os.path.join(logdir, f"{stem}{suffix}.json"),
          os.path.join(logdir, f"{stem}{suffix}"))


def check_writable(path):
  """ConfigError (about `output_json`) unless a file can be written at path."""
  if os.path.isdir(path):
    raise ConfigError(f"output_json {path} is a directory",
                      params=("output_json",))
  directory = os.path.dirname(os.path.abspath(path))
  parent = directory
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
    raise ConfigError(f"output_json {path}: cannot write to {directory}",
                      params=("output_json",))


def write_json(path, result):
  """Writes the result atomically (a crash never leaves half a file)."""
  files.write_json(path, result)


def _rows(result):
  rows = [("data set", f"{result['dataset']} ({result['split']}, "
                       f"{result['num_examples']} examples)")]
  if "saved_model" in result:
    rows.append(("SavedModel", result["saved_model"]))
  else:
    rows.append(("checkpoint step", str(result["step"])))
  rows += [
      ("-ELBO (nats)", f"{result['neg_elbo']:.4f}"),
      ("-ELBO (bits/dim)", f"{result['bits_per_dim']:.5f}"),
      ("rate R (nats)", f"{result['rate']:.4f}"),
      ("distortion D (nats)", f"{result['distortion']:.4f}"),
  ]
  if "iwae_nll" in result:
    rows.append((f"IWAE NLL, k={result['iw_samples']} (nats)",
                 f"{result['iwae_nll']:.4f}"))
    rows.append(("IWAE NLL (bits/dim)", f"{result['iwae_bits_per_dim']:.5f}"))
  for key, label in (("perplexity", "perplexity (-ELBO, per real token)"),
                     ("iwae_perplexity", "perplexity (IWAE, per real token)")):
    if key in result:
      rows.append((label, f"{result[key]:.3f}"))
  rows += [
      ("mutual information I(x;z)", f"{result['mutual_information']:.4f}"),
      ("active units", f"{result['active_units']}/{result['latent_dim']}"),
      ("KL per dimension", " ".join(f"{v:.3f}" for v in result["kl_per_dim"])),
      ("collapsed dimensions", ",".join(map(str, result["collapsed_dims"]))
       or "none"),
  ]
  for key, label in (("kl_weight", "KL weight as written"),
                     ("beta_eff", "effective beta (ELBO units)"),
                     ("beta_norm", "beta_norm"), ("sigma", "decoder sigma")):
    if result.get(key) is not None:
      rows.append((label, f"{result[key]:.6g}"))
  for short, _ in HEADLINE_METRICS:
    if result.get(short) is not None:
      rows.append((HEADLINE_LABELS[short], f"{result[short]:.4f}"))
  return rows


def format_table(result):
  """The human-readable table printed by the evaluate command."""
  rows = _rows(result)
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
