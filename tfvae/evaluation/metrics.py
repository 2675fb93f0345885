"""The disentanglement metrics by name: a registry instead of a branch per name.

Each entry maps a metric's name to a function `(ground_truth, represent, rng,
sizes) -> result dict` over `tfvae.metrics.disentanglement`; the order of the
registry is the order they run and are reported in. The representation
scored is the posterior mean E_q[z | x], as in disentanglement_lib.
"""

# pylint: disable=import-outside-toplevel

import numpy as np

from tfvae.errors import ConfigError
from tfvae.evaluation.options import MetricSizes

# The headline number of each metric (the dicts hold more).
HEADLINE_METRICS = (
    ("mig", "mig"),
    ("beta_vae", "beta_vae.eval_accuracy"),
    ("factor_vae", "factor_vae.eval_accuracy"),
    ("dci_disentanglement", "dci.disentanglement"),
    ("dci_completeness", "dci.completeness"),
    ("dci_informativeness", "dci.informativeness"),
    ("sap", "sap"),
)


def _mig(ground_truth, represent, rng, sizes):
  from tfvae.metrics import disentanglement as dis
  return dis.compute_mig(ground_truth, represent, rng,
                         num_train=sizes.num_train,
                         batch_size=sizes.batch_size)


def _beta_vae(ground_truth, represent, rng, sizes):
  from tfvae.metrics import disentanglement as dis
  return dis.compute_beta_vae_score(
      ground_truth, represent, rng, batch_size=sizes.group_size,
      num_train=sizes.num_train, num_eval=sizes.num_eval)


def _factor_vae(ground_truth, represent, rng, sizes):
  from tfvae.metrics import disentanglement as dis
  return dis.compute_factor_vae_score(
      ground_truth, represent, rng, batch_size=sizes.group_size,
      num_train=sizes.num_train, num_eval=sizes.num_eval,
      num_variance_estimate=sizes.num_variance_estimate)


def _dci(ground_truth, represent, rng, sizes):
  from tfvae.metrics import disentanglement as dis
  return dis.compute_dci(ground_truth, represent, rng,
                         num_train=sizes.num_train, num_test=sizes.num_eval,
                         batch_size=sizes.batch_size,
                         n_estimators=sizes.dci_n_estimators)


def _sap(ground_truth, represent, rng, sizes):
  from tfvae.metrics import disentanglement as dis
  return dis.compute_sap(ground_truth, represent, rng,
                         num_train=sizes.num_train, num_test=sizes.num_eval,
                         batch_size=sizes.batch_size)


REGISTRY = {
    "mig": _mig,
    "beta_vae": _beta_vae,
    "factor_vae": _factor_vae,
    "dci": _dci,
    "sap": _sap,
}
# The built-in metrics, in the order they run.
METRICS = tuple(REGISTRY)


def register(name, fn):
  """Adds a metric `fn(ground_truth, represent, rng, sizes) -> dict`; it runs
  with "auto" and can be named in a metrics list from then on."""
  REGISTRY[name] = fn


def check_metric_names(metrics):
  unknown = sorted(set(metrics) - set(REGISTRY))
  if unknown:
    raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from "
                      f"{', '.join(REGISTRY)}", params=("metrics",))
  return list(metrics)


def select_metrics(metrics, has_factors, dataset):
  """The metric names to run: "auto" is all of them on a factor data set."""
  if metrics == "auto":
    return list(REGISTRY) if has_factors else []
  metrics = check_metric_names([m for m in metrics if m])
  if metrics and not has_factors:
    raise ConfigError(f"disentanglement metrics need a data set with "
                      f"ground-truth factors (dsprites, dsprites_npz:PATH, "
                      f"shapes_rgb); "
                      f"{dataset} has none", params=("metrics",))
  return metrics


def representation_function(model, scale, image_shape):
  """observations (compact dtype) [n, H, W, C] -> posterior means [n, J]."""
  import tensorflow as tf

  @tf.function(input_signature=[
      tf.TensorSpec((None,) + tuple(image_shape), tf.float32)])
  def encode_mean(x):
    return model.encode(x)[0]

  def represent(observations):
    x = np.asarray(observations, np.float32) * scale
    return encode_mean(tf.constant(x)).numpy()

  return represent


def disentanglement_metrics(represent, ground_truth, sizes=None,
                            metrics=None, seed=0):
  """Every requested metric (None: all); each draws from its own
  RandomState(seed).

  Returns:
    {metric name: that metric's result dict}, in registry order.
  """
  sizes = (sizes or MetricSizes()).validate()
  metrics = list(REGISTRY) if metrics is None else check_metric_names(metrics)
  return {name: fn(ground_truth, represent, np.random.RandomState(seed),
                   sizes)
          for name, fn in REGISTRY.items() if name in metrics}


def headline_scores(disentanglement):
  """{short name: headline value} of the metrics that were computed."""
  merged = {}
  for values in (disentanglement or {}).values():
    merged.update(values)
  return {short: float(merged[key]) for short, key in HEADLINE_METRICS
          if key in merged}


def collapse_warning(collapsed_dims, latent_dim, threshold=None, delta=None):
  """One line naming the (eps, delta)-collapsed dimensions (Lucas et al.
  2019), or None."""
  from tfvae.metrics import diagnostics
  threshold = diagnostics.COLLAPSE_THRESHOLD if threshold is None else threshold
  delta = diagnostics.COLLAPSE_DELTA if delta is None else delta
  if not collapsed_dims:
    return None
  dims = ", ".join(str(j) for j in collapsed_dims)
  share = f"{100 * (1 - delta):g}%"
  if len(collapsed_dims) == latent_dim:
    return (f"warning: posterior collapse: all {latent_dim} latent dimensions "
            f"({dims}) have KL < {threshold:g} nats for >= {share} of the "
            "examples; the decoder ignores z (lower the KL weight, use free "
            "bits or a KL schedule)")
  return (f"warning: posterior collapse: latent dimension(s) {dims} of "
          f"{latent_dim} have KL < {threshold:g} nats for >= {share} of the "
          "examples (Lucas et al. 2019)")
