"""What an evaluation measures and how: sizes, samples, split (no TensorFlow).

The command line's evaluation flags are generated from these dataclasses'
fields (`tfvae.cli.flags`), so each default is written once, here.
"""

import dataclasses
from typing import Literal, Optional

from tfvae.config.base import option
from tfvae.errors import ConfigError

DEFAULT_IW_SAMPLES = 1000
# Posterior samples per example of the distortion (and so -ELBO) estimate.
DEFAULT_ELBO_SAMPLES = 16
EVAL_BATCH_SIZE = 256
SPLITS = ("validation", "train")
# Data sets with ground-truth factors (the disentanglement metrics need them).
FACTOR_DATASETS = ("dsprites", "dsprites_npz", "shapes_rgb")


@dataclasses.dataclass
class MetricSizes:
  """Sample sizes of the disentanglement metrics (disentanglement_lib's).

  Attributes:
    num_train: training points of every metric (MIG uses only these).
    num_eval: evaluation/test points (beta-VAE, FactorVAE, DCI, SAP).
    num_variance_estimate: points for FactorVAE's global variances.
    group_size: observations per beta-VAE / FactorVAE point (pairs or batch).
    batch_size: observations per encoder call for MIG, DCI and SAP.
    dci_n_estimators: trees of each DCI gradient-boosting classifier.
  """

  num_train: int = option(10000, "Training points of every disentanglement "
                          "metric.")
  num_eval: int = option(5000, "Evaluation points of beta-VAE, FactorVAE, DCI "
                         "and SAP.")
  num_variance_estimate: int = option(10000, "Points for FactorVAE's global "
                                      "variances.")
  group_size: int = option(64, "Observations per beta-VAE / FactorVAE point.")
  batch_size: int = option(16, "Observations per encoder call of MIG, DCI "
                           "and SAP.")
  dci_n_estimators: int = option(100, "Trees of each DCI gradient-boosting "
                                 "classifier.")

  def validate(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"metric size {field.name} must be an integer >= 1, "
                          f"got {value!r}")
    if self.group_size < 2:
      raise ConfigError("metric size group_size must be >= 2 (FactorVAE "
                        "takes a variance over the group)")
    return self


@dataclasses.dataclass
class EvaluationOptions:
  """What to measure and how (see `tfvae.evaluation.evaluate_run`)."""

  dataset: Optional[str] = option(
      None, "Evaluate on this data set instead of the run's own (same image "
      "shape; same syntax as train.py).")
  iw_samples: int = option(
      DEFAULT_IW_SAMPLES, "k of the importance-weighted log-likelihood bound "
      "(Burda et al. 2016); 0 skips it.")
  metrics: object = option(
      "auto", "Disentanglement metrics: auto (all on data sets with factors), "
      "none, or a list of mig, beta_vae, factor_vae, dci, sap.")
  sizes: Optional[MetricSizes] = None
  seed: int = option(0, "Seed of every random draw of the evaluation.")
  split: Literal["validation", "train"] = option(
      "validation", "Which split of the data set to evaluate.", SPLITS)
  max_examples: Optional[int] = option(
      None, "Evaluate at most N examples of the split.")
  batch_size: int = option(EVAL_BATCH_SIZE, "Examples per evaluation batch.")
  elbo_samples: int = option(
      DEFAULT_ELBO_SAMPLES, "Posterior samples per example of the distortion "
      "(and -ELBO) estimate.")

  def validate(self):
    def need(ok, name, text):
      if not ok:
        raise ConfigError(f"{name} {text}, got {getattr(self, name)!r}",
                          params=(name,))
    need(isinstance(self.iw_samples, int) and self.iw_samples >= 0,
         "iw_samples", "must be an integer >= 0")
    need(isinstance(self.batch_size, int) and self.batch_size >= 1,
         "batch_size", "must be an integer >= 1")
    need(isinstance(self.elbo_samples, int) and self.elbo_samples >= 1,
         "elbo_samples", "must be an integer >= 1")
    need(self.max_examples is None or self.max_examples >= 1, "max_examples",
         "must be >= 1")
    need(self.split in SPLITS, "split",
         f"must be one of {', '.join(SPLITS)}")
    self.sizes = (self.sizes or MetricSizes()).validate()
    return self


def metric_selection(values):
  """"auto", [] or the metric names of a `metrics` list ("auto", "none")."""
  values = [v.strip() for v in values if v.strip()]
  if values == ["auto"]:
    return "auto"
  if values in ([], ["none"]):
    return []
  return values
