"""absl flags of the evaluation settings shared by evaluate.py and sweep.py."""

from absl import flags

FLAGS = flags.FLAGS


def define_evaluation_flags():
  """--iw_samples, --metrics and the disentanglement metrics' sample sizes."""
  flags.DEFINE_integer("iw_samples", 1000, "k of the importance-weighted "
                       "log-likelihood bound (Burda et al. 2016); 0 skips it.")
  flags.DEFINE_integer("elbo_samples", 16, "Posterior samples per example "
                       "of the distortion (and -ELBO) estimate.")
  flags.DEFINE_list("metrics", ["auto"], "Disentanglement metrics: auto (all "
                    "on data sets with factors), none, or a list of mig, "
                    "beta_vae, factor_vae, dci, sap.")
  flags.DEFINE_integer("metric_num_train", 10000, "Training points of every "
                       "disentanglement metric.")
  flags.DEFINE_integer("metric_num_eval", 5000, "Evaluation points of "
                       "beta-VAE, FactorVAE, DCI and SAP.")
  flags.DEFINE_integer("metric_num_variance_estimate", 10000, "Points for "
                       "FactorVAE's global variances.")
  flags.DEFINE_integer("metric_group_size", 64, "Observations per beta-VAE / "
                       "FactorVAE point.")
  flags.DEFINE_integer("metric_batch_size", 16, "Observations per encoder "
                       "call of MIG, DCI and SAP.")
  flags.DEFINE_integer("dci_n_estimators", 100, "Trees of each DCI "
                       "gradient-boosting classifier.")


def metric_selection():
  """"auto", [] or the list of metric names given by --metrics."""
  values = [v.strip() for v in FLAGS.metrics if v.strip()]
  if values == ["auto"]:
    return "auto"
  if values in ([], ["none"]):
    return []
  return values


def metric_sizes():
  """The validated `MetricSizes` of the --metric_* flags."""
  from tfvae import evaluation  # pylint: disable=import-outside-toplevel
  return evaluation.MetricSizes(
      num_train=FLAGS.metric_num_train, num_eval=FLAGS.metric_num_eval,
      num_variance_estimate=FLAGS.metric_num_variance_estimate,
      group_size=FLAGS.metric_group_size, batch_size=FLAGS.metric_batch_size,
      dci_n_estimators=FLAGS.dci_n_estimators).validate()
