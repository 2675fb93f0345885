"""Evaluation of a trained model: diagnostics, collapse, disentanglement.

`evaluate_run(logdir)` restores the model of a training run (its `config.json`
and the latest checkpoint under `checkpoints/`) and measures, on the run's
validation set or another data set of the same image shape:

- rate R, distortion D, -ELBO = D + R (nats and bits/dim), per-dimension KL,
  active units, mutual information I(x; z), and the importance-weighted
  estimate of log p(x) with k = `iw_samples` (Burda et al. 2016; default 1000)
  -- definitions in `tfvae.metrics.diagnostics`;
- a posterior-collapse warning naming the (eps, delta)-collapsed dimensions
  (Lucas et al. 2019);
- on a data set with ground-truth factors (`dsprites`, `dsprites_npz:PATH`):
  MIG, the beta-VAE score, the FactorVAE score, DCI and SAP
  (`tfvae.metrics.disentanglement`, by name through the registry in
  `tfvae.evaluation.metrics`) with disentanglement_lib's default sample sizes
  (`MetricSizes`; smaller sizes make quick, noisier estimates).

`evaluate_saved_model(path)` measures the same on a model exported by
`tfvae.export.saved_model`, through its `encode`, `decode` and `reconstruct`
signatures (`SavedModelAdapter`). Not available there: the training
objective's value (`loss`) and the KL weighting (beta_eff, beta_norm), which
are not exported.

Modules: `options` (what to measure; no TensorFlow), `loading` (runs and
data), `saved_model` (the export adapter), `metrics` (the registry, collapse
warning), `report` (paths, JSON, table), `tensorboard`, `evaluate` (the two
entry points). TensorFlow loads only when a model is evaluated.
"""

from tfvae.evaluation.evaluate import (evaluate_and_write, evaluate_run,
                                       evaluate_saved_model)
from tfvae.evaluation.loading import LoadedRun, load_run, read_run_config
from tfvae.evaluation.metrics import (HEADLINE_METRICS, METRICS, REGISTRY,
                                      collapse_warning,
                                      disentanglement_metrics,
                                      headline_scores, register)
from tfvae.evaluation.options import (DEFAULT_ELBO_SAMPLES, DEFAULT_IW_SAMPLES,
                                      EVAL_BATCH_SIZE, EvaluationOptions,
                                      MetricSizes)
from tfvae.evaluation.report import (check_writable, default_output_paths,
                                     format_table, write_json)
from tfvae.export.reader import SavedModelAdapter

__all__ = [
    "DEFAULT_ELBO_SAMPLES", "DEFAULT_IW_SAMPLES", "EVAL_BATCH_SIZE",
    "EvaluationOptions", "HEADLINE_METRICS", "evaluate_and_write", "LoadedRun", "METRICS",
    "MetricSizes", "REGISTRY", "SavedModelAdapter", "check_writable",
    "collapse_warning", "default_output_paths", "disentanglement_metrics",
    "evaluate_run", "evaluate_saved_model", "format_table", "headline_scores",
    "load_run", "read_run_config", "register", "write_json",
]
