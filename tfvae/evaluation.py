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
  (`tfvae.metrics.disentanglement`) with disentanglement_lib's default sample
  sizes (`MetricSizes`; smaller sizes make quick, noisier estimates).

The representation scored by the disentanglement metrics is the posterior mean
E_q[z | x], as in disentanglement_lib.

`evaluate_saved_model(path)` measures the same on a model exported by
`tfvae.export.saved_model`, through its `encode`, `decode` and `reconstruct`
signatures (`SavedModelAdapter`): log p(x|z) at any z comes from the decoder
distribution's parameters that `decode` returns and the likelihood named in
the export's metadata. Not available there: the training objective's value
(`loss`) and the KL weighting (beta_eff, beta_norm), which are not exported.
"""

# TensorFlow loads lazily, so bad input fails before it does.
# pylint: disable=import-outside-toplevel

import dataclasses
import json
import math
import os
import re

import numpy as np

from tfvae import config as config_lib
from tfvae.errors import ConfigError, DataError
from tfvae.training import rundir

DEFAULT_IW_SAMPLES = 1000
# Posterior samples per example of the distortion (and so -ELBO) estimate.
DEFAULT_ELBO_SAMPLES = 16
EVAL_BATCH_SIZE = 256
METRICS = ("mig", "beta_vae", "factor_vae", "dci", "sap")
FACTOR_DATASETS = ("dsprites", "dsprites_npz")
SPLITS = ("validation", "train")
# Examples evaluated from a streamed training split when no cap is given.
STREAM_TRAIN_EXAMPLES = 10000
NUM_PREVIEW_IMAGES = 8
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

  num_train: int = 10000
  num_eval: int = 5000
  num_variance_estimate: int = 10000
  group_size: int = 64
  batch_size: int = 16
  dci_n_estimators: int = 100

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
class LoadedRun:
  """A restored training run."""

  logdir: str
  config: config_lib.Config
  model: object
  checkpoint: str
  step: int


# --------------------------------------------------------------- loading


def read_run_config(logdir):
  """The `Config` saved in a run directory; ConfigError if there is none."""
  if not os.path.isdir(logdir):
    raise ConfigError(f"--logdir {logdir}: no such directory")
  if not os.path.exists(os.path.join(logdir, rundir.CONFIG_FILE)):
    raise ConfigError(f"--logdir {logdir} is not a tfvae run (no "
                      f"{rundir.CONFIG_FILE})")
  return config_lib.Config.from_dict(rundir.read_config(logdir))


def checkpoint_step(path):
  """The global step in a checkpoint path `.../ckpt-<step>` (0 if absent)."""
  match = re.search(r"-(\d+)$", path)
  return int(match.group(1)) if match else 0


def load_run(logdir, image_shape):
  """Builds the run's model for images of `image_shape` and restores it.

  The model is compiled with an optimizer (some objectives, e.g. capacity,
  read the global step) whose step is set to the checkpoint's.
  """
  import keras
  from tfvae.models.factory import build_model
  from tfvae.training import checkpoints

  config = read_run_config(logdir)
  model = build_model(config, image_shape)
  model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
  try:
    path = checkpoints.restore_model(model, logdir)
  except checkpoints.CheckpointError as e:
    raise checkpoints.CheckpointError(
        f"{e} (images of shape {tuple(image_shape)} given)") from None
  step = checkpoint_step(path)
  model.optimizer.iterations.assign(step)
  return LoadedRun(logdir=logdir, config=config, model=model, checkpoint=path,
                   step=step)


def evaluation_config(run_config, dataset=None):
  """The run's config with the data set replaced (validated).

  The run's seed, validation fraction and `max_examples` are kept, so the
  run's own data set yields exactly the validation split it was trained with.
  """
  values = run_config.to_dict()
  if dataset is not None:
    values["dataset"] = dataset
  return config_lib.Config(**values).validate()


def split_images(data, split, max_examples=None):
  """Images of the requested split in compact storage, [N, H, W, C]."""
  if split not in SPLITS:
    raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got "
                      f"{split!r}")
  if split == "validation":
    images = data.validation
  elif data.train is not None:
    images = data.train
  else:  # A streamed set: render the first indices of its training stream.
    count = max_examples or STREAM_TRAIN_EXAMPLES
    images = data.stream.source.images(data.stream.indices[:count])
  if max_examples is not None:
    images = images[:max_examples]
  if images.shape[0] == 0:
    raise DataError(f"{data.name}: the {split} split is empty")
  return images


def factor_source(config):
  """The ground-truth-factor data of the config's data set, or None."""
  if config.dataset_kind not in FACTOR_DATASETS:
    return None
  from tfvae.data import dsprites
  if config.dataset_kind == "dsprites":
    return dsprites.DSpritesLike()
  return dsprites.DSpritesNpz(config.dataset_argument)


# ---------------------------------------------------------- SavedModels

SAVED_MODEL_SIGNATURES = ("encode", "decode", "reconstruct")
EXPORT_METADATA_FILE = "tfvae_export.json"


def resolve_saved_model(path):
  """A SavedModel version directory: `path` itself or its latest version."""
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    return path
  if os.path.isdir(path):
    versions = sorted(int(n) for n in os.listdir(path) if n.isdigit() and
                      os.path.isfile(os.path.join(path, n, "saved_model.pb")))
    if versions:
      return os.path.join(path, str(versions[-1]))
  raise ConfigError(f"--saved_model {path}: no saved_model.pb in it or in a "
                    "numbered version directory under it")


def decoded_log_likelihood(likelihood, decoded, x):
  """log p(x|z) per example from the `decode` signature's outputs.

  Args:
    likelihood: the export's likelihood name (`bernoulli`,
      `continuous_bernoulli`, `gaussian`, `reference_l2`, `reference_bce`).
    decoded: the `decode` outputs (`mean`, `params`, and `scale` for
      Gaussians).
    x: images [B, H, W, C] in the model's input scale.
  """
  import tensorflow as tf
  import tensorflow_probability as tfp
  from tfvae.objectives import reference
  tfd = tfp.distributions
  x = tf.cast(x, tf.float32)
  if likelihood == "bernoulli":
    log_p = tfd.Bernoulli(logits=decoded["params"],
                          dtype=tf.float32).log_prob(x)
  elif likelihood == "continuous_bernoulli":
    log_p = tfd.ContinuousBernoulli(logits=decoded["params"]).log_prob(x)
  elif likelihood == "gaussian":
    log_p = tfd.Normal(decoded["mean"], decoded["scale"]).log_prob(x)
  elif likelihood == "reference_l2":
    # The question's summed squared error is a Gaussian with variance 1/2.
    log_p = tfd.Normal(decoded["mean"], math.sqrt(0.5)).log_prob(x)
  elif likelihood == "reference_bce":
    y = tf.clip_by_value(decoded["mean"], reference.BCE_CLIP,
                         1 - reference.BCE_CLIP)
    log_p = x * tf.math.log(y) + (1 - x) * tf.math.log(1 - y)
  else:
    raise ConfigError(f"SavedModel likelihood {likelihood!r} is not known to "
                      "this tfvae version")
  return tf.reduce_sum(log_p, axis=tf.range(1, tf.rank(log_p)))


class SavedModelAdapter:
  """An exported tfvae model behind the interface `diagnostics.evaluate` uses.

  `encode` and `decode_mean` call the `encode` and `decode` signatures;
  log p(x|z) is computed from `decode`'s distribution parameters with the
  likelihood named in the export's metadata (`decoded_log_likelihood`), so
  the importance-weighted bound works at any z. `compute_terms` draws one
  posterior sample per example, like the checkpoint evaluation.
  """

  def __init__(self, path):
    import tensorflow as tf
    self.path = resolve_saved_model(path)
    assets = os.path.join(self.path, "assets")
    try:
      self.metadata = load_json(os.path.join(assets, EXPORT_METADATA_FILE))
      self.config = config_lib.Config.from_dict(
          load_json(os.path.join(assets, rundir.CONFIG_FILE)))
    except (OSError, ValueError) as e:
      raise ConfigError(f"--saved_model {self.path}: not a tfvae export "
                        f"({type(e).__name__}: {e})") from None
    self._loaded = tf.saved_model.load(self.path)
    missing = [n for n in SAVED_MODEL_SIGNATURES
               if n not in self._loaded.signatures]
    if missing:
      raise ConfigError(f"--saved_model {self.path} lacks the signature(s) "
                        f"{', '.join(missing)}")
    self._signatures = self._loaded.signatures
    self.likelihood_name = self.metadata["likelihood"]
    self.image_shape = tuple(int(d) for d in self.metadata["image_shape"])
    self.latent_dim = int(self.metadata["latent_dim"])
    self.num_features = int(np.prod(self.image_shape))

  def encode(self, x, training=False):
    del training
    import tensorflow as tf
    out = self._signatures["encode"](x=tf.cast(x, tf.float32))
    return out["z_mean"], out["z_log_variance"]

  def decode(self, z):
    import tensorflow as tf
    return self._signatures["decode"](z=tf.cast(z, tf.float32))

  def decode_mean(self, z):
    return self.decode(z)["mean"]

  def reconstruct(self, x):
    import tensorflow as tf
    return self._signatures["reconstruct"](
        x=tf.cast(x, tf.float32))["reconstruction"]

  def log_likelihood(self, x, z):
    return decoded_log_likelihood(self.likelihood_name, self.decode(z), x)

  def compute_terms(self, x, training=False):
    del training
    import tensorflow as tf
    from tfvae.objectives import kl as kl_lib
    z_mean, z_log_variance = self.encode(x)
    z = kl_lib.sample_latent(z_mean, z_log_variance,
                             stateless_seed=getattr(self, "eval_seed", None))
    kl_per_dim = kl_lib.gaussian_kl(z_mean, z_log_variance)
    distortion = -self.log_likelihood(x, z)
    rate = tf.reduce_sum(kl_per_dim, axis=-1)
    return {"loss": tf.reduce_mean(distortion + rate),
            "distortion": distortion, "rate": rate, "kl_per_dim": kl_per_dim,
            "z_mean": z_mean, "z_log_variance": z_log_variance}


# ----------------------------------------------------- disentanglement


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
                            metrics=METRICS, seed=0):
  """Every requested metric; each draws from its own RandomState(seed).

  Returns:
    {metric name: that metric's result dict}.
  """
  from tfvae.metrics import disentanglement as dis
  sizes = (sizes or MetricSizes()).validate()
  _check_metric_names(metrics)
  out = {}
  for name in METRICS:
    if name not in metrics:
      continue
    rng = np.random.RandomState(seed)
    if name == "mig":
      out[name] = dis.compute_mig(ground_truth, represent, rng,
                                  num_train=sizes.num_train,
                                  batch_size=sizes.batch_size)
    elif name == "beta_vae":
      out[name] = dis.compute_beta_vae_score(
          ground_truth, represent, rng, batch_size=sizes.group_size,
          num_train=sizes.num_train, num_eval=sizes.num_eval)
    elif name == "factor_vae":
      out[name] = dis.compute_factor_vae_score(
          ground_truth, represent, rng, batch_size=sizes.group_size,
          num_train=sizes.num_train, num_eval=sizes.num_eval,
          num_variance_estimate=sizes.num_variance_estimate)
    elif name == "dci":
      out[name] = dis.compute_dci(ground_truth, represent, rng,
                                  num_train=sizes.num_train,
                                  num_test=sizes.num_eval,
                                  batch_size=sizes.batch_size,
                                  n_estimators=sizes.dci_n_estimators)
    elif name == "sap":
      out[name] = dis.compute_sap(ground_truth, represent, rng,
                                  num_train=sizes.num_train,
                                  num_test=sizes.num_eval,
                                  batch_size=sizes.batch_size)
  return out


def headline_scores(disentanglement):
  """{short name: headline value} of the metrics that were computed."""
  merged = {}
  for values in (disentanglement or {}).values():
    merged.update(values)
  return {short: float(merged[key]) for short, key in HEADLINE_METRICS
          if key in merged}


# ---------------------------------------------------------- diagnostics


def collapse_warning(collapsed_dims, latent_dim,
                     threshold=None, delta=None):
  """One line naming the collapsed dimensions, or None."""
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


def model_weighting(run, first_batch):
  """The KL weighting of the run at its checkpoint, in every convention.

  From the run's `final_metrics.json` when it was written at the checkpoint's
  step (the last training batch's values); otherwise what the restored model
  applies to the first evaluation batch.
  """
  keys = ("kl_weight", "beta_eff", "beta_norm", "sigma")
  path = os.path.join(run.logdir, rundir.FINAL_METRICS_FILE)
  if os.path.exists(path):
    try:
      final = load_json(path)
    except (OSError, ValueError):
      final = {}
    if final.get("step") == run.step:
      return {k: float(final[k]) for k in keys if final.get(k) is not None}
  terms = run.model.compute_terms(first_batch, training=False)
  return {k: float(np.mean(terms[k])) for k in keys if k in terms}


@dataclasses.dataclass
class EvaluationOptions:
  """What to measure and how (see `evaluate_run`)."""

  dataset: str = None
  iw_samples: int = DEFAULT_IW_SAMPLES
  metrics: object = "auto"
  sizes: MetricSizes = None
  seed: int = 0
  split: str = "validation"
  max_examples: int = None
  batch_size: int = EVAL_BATCH_SIZE
  elbo_samples: int = DEFAULT_ELBO_SAMPLES

  def validate(self):
    if not isinstance(self.iw_samples, int) or self.iw_samples < 0:
      raise ConfigError(
          f"--iw_samples must be an integer >= 0, got {self.iw_samples!r}")
    if not isinstance(self.batch_size, int) or self.batch_size < 1:
      raise ConfigError(
          f"--batch_size must be an integer >= 1, got {self.batch_size!r}")
    if not isinstance(self.elbo_samples, int) or self.elbo_samples < 1:
      raise ConfigError(
          f"--elbo_samples must be an integer >= 1, got {self.elbo_samples!r}")
    if self.max_examples is not None and self.max_examples < 1:
      raise ConfigError(f"--max_examples must be >= 1, got {self.max_examples}")
    if self.split not in SPLITS:
      raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got "
                        f"{self.split!r}")
    self.sizes = (self.sizes or MetricSizes()).validate()
    return self


def evaluate_run(logdir, dataset=None, iw_samples=DEFAULT_IW_SAMPLES,
                 metrics="auto", sizes=None, seed=0, split="validation",
                 max_examples=None, batch_size=EVAL_BATCH_SIZE,
                 tensorboard_dir="default", print_fn=None,
                 elbo_samples=DEFAULT_ELBO_SAMPLES):
  """Evaluates the latest checkpoint of a run; returns a JSON-ready dict.

  Args:
    logdir: the run directory (config.json + checkpoints/).
    dataset: another data set of the same image shape (a `--dataset` value);
      default: the run's own.
    iw_samples: k of the importance-weighted bound (0 skips it).
    metrics: "auto" (all on factor data sets, none otherwise) or a list of
      names from METRICS.
    sizes: `MetricSizes` (default: disentanglement_lib's).
    seed: seed of every random draw of the evaluation.
    split: "validation" (the run's held-out set) or "train".
    max_examples: evaluate at most this many examples of the split.
    batch_size: examples per evaluation batch.
    tensorboard_dir: where to write TensorBoard summaries; "default" is
      `default_output_paths(logdir, dataset)`, None writes none.
    print_fn: progress messages (None: silent).
    elbo_samples: posterior samples per example of the distortion estimate
      (the rate is exact), so -ELBO = D + R is not one sample's noise.

  Returns:
    dict with every diagnostic, `collapse_warning`, `disentanglement` (full
    metric outputs) and their headline scores at the top level.
  """
  options = EvaluationOptions(dataset, iw_samples, metrics, sizes, seed, split,
                              max_examples, batch_size, elbo_samples).validate()
  run_config = read_run_config(logdir)
  config, ground_truth, metric_names = _prepare(run_config, options)
  data = _load_data(config, seed)
  spec = rundir.read_data_spec(logdir)
  if spec is not None and tuple(spec["image_shape"]) != data.image_shape:
    raise DataError(f"{config.dataset} has images of shape {data.image_shape}"
                    f"; the run {logdir} was trained on "
                    f"{tuple(spec['image_shape'])}")
  run = load_run(logdir, data.image_shape)
  result = {
      "logdir": os.path.abspath(logdir),
      "checkpoint": run.checkpoint,
      "step": run.step,
  }
  result.update(_evaluate_model(run.model, run_config, config, data, options,
                                ground_truth, metric_names, print_fn,
                                f"{logdir} (step {run.step})"))
  first_batch = next(iter(_eval_dataset(data, options, config)))
  result.update(model_weighting(run, first_batch))
  if tensorboard_dir == "default":
    tensorboard_dir = default_output_paths(logdir, dataset)[1]
  _maybe_write_tensorboard(tensorboard_dir, result, run.model, data, options,
                           run.step)
  return result


def evaluate_saved_model(path, dataset=None, iw_samples=DEFAULT_IW_SAMPLES,
                         metrics="auto", sizes=None, seed=0,
                         split="validation", max_examples=None,
                         batch_size=EVAL_BATCH_SIZE, tensorboard_dir=None,
                         print_fn=None, elbo_samples=DEFAULT_ELBO_SAMPLES):
  """Evaluates an exported SavedModel (`tfvae.export`); see `evaluate_run`.

  Everything but the training objective's `loss` and the KL weighting is
  measured, from the `encode`, `decode` and `reconstruct` signatures and the
  config saved as an asset (`SavedModelAdapter`). `path` is one version
  directory or the model's base directory (its latest version). Nothing is
  written into the SavedModel; TensorBoard summaries only to
  `tensorboard_dir` when given.
  """
  options = EvaluationOptions(dataset, iw_samples, metrics, sizes, seed, split,
                              max_examples, batch_size, elbo_samples).validate()
  adapter = SavedModelAdapter(path)
  config, ground_truth, metric_names = _prepare(adapter.config, options)
  data = _load_data(config, seed)
  if data.image_shape != adapter.image_shape:
    raise DataError(f"{config.dataset} has images of shape {data.image_shape}"
                    f"; the SavedModel {adapter.path} takes "
                    f"{adapter.image_shape}")
  result = {"saved_model": adapter.path}
  result.update(_evaluate_model(adapter, adapter.config, config, data, options,
                                ground_truth, metric_names, print_fn,
                                adapter.path))
  result.pop("loss", None)  # The training objective is not exported.
  step = int(adapter.metadata.get("step") or 0)
  result["step"] = step
  _maybe_write_tensorboard(tensorboard_dir, result, adapter, data, options,
                           step)
  return result


def _prepare(run_config, options):
  """(evaluation config, ground-truth data or None, metric names)."""
  config = evaluation_config(run_config, options.dataset)
  ground_truth = factor_source(config)
  metric_names = _metric_names(options.metrics, ground_truth is not None,
                               config)
  return config, ground_truth, metric_names


def _load_data(config, seed):
  import keras
  from tfvae.data import datasets
  keras.utils.set_random_seed(seed)
  return datasets.load_data(config)


def _eval_dataset(data, options, config):
  """The evaluation pass; binarised with the training's fixed validation
  sample when the run trained on dynamically binarised data."""
  from tfvae.data import pipeline
  images = split_images(data, options.split, options.max_examples)
  return pipeline.eval_dataset(images, data.scale, options.batch_size,
                               config.binarization, config.seed + 1)


def _evaluate_model(model, run_config, config, data, options, ground_truth,
                    metric_names, print_fn, what):
  """Diagnostics, the collapse warning and the disentanglement metrics."""
  from tfvae.metrics import diagnostics
  say = print_fn or (lambda *_: None)
  eval_ds = _eval_dataset(data, options, config)
  count = split_images(data, options.split, options.max_examples).shape[0]
  say(f"evaluating {what} on {count} {options.split} examples of "
      f"{config.dataset}")
  diag, _, _ = diagnostics.evaluate(
      model, eval_ds, iw_samples=options.iw_samples, seed=options.seed,
      distortion_samples=options.elbo_samples)
  result = {
      "dataset": config.dataset,
      "split": options.split,
      "seed": options.seed,
      "model": run_config.model,
      "likelihood": run_config.likelihood,
      "balancer": run_config.balancer,
  }
  result.update(diag)
  result["collapse_warning"] = collapse_warning(diag["collapsed_dims"],
                                                diag["latent_dim"])
  if metric_names:
    sizes = options.sizes
    say(f"disentanglement metrics: {', '.join(metric_names)} "
        f"({sizes.num_train} train / {sizes.num_eval} eval points)")
    represent = representation_function(model, data.scale, data.image_shape)
    scores = disentanglement_metrics(represent, ground_truth, sizes,
                                     metric_names, options.seed)
    result["disentanglement"] = scores
    result["metric_sizes"] = dataclasses.asdict(sizes)
    result.update(headline_scores(scores))
  return result


def _maybe_write_tensorboard(directory, result, model, data, options, step):
  if not directory:
    return
  images = split_images(data, options.split, options.max_examples)
  preview = images[:NUM_PREVIEW_IMAGES].astype(np.float32) * data.scale
  write_tensorboard(directory, result, model, preview, step)
  result["tensorboard_dir"] = directory


def _metric_names(metrics, has_factors, config):
  if metrics == "auto":
    return list(METRICS) if has_factors else []
  metrics = [m for m in metrics if m]
  _check_metric_names(metrics)
  if metrics and not has_factors:
    raise ConfigError(f"disentanglement metrics need a data set with "
                      f"ground-truth factors (dsprites, dsprites_npz:PATH); "
                      f"{config.dataset} has none")
  return metrics


def _check_metric_names(metrics):
  unknown = sorted(set(metrics) - set(METRICS))
  if unknown:
    raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from "
                      f"{', '.join(METRICS)}")
  return list(metrics)


# -------------------------------------------------------------- outputs


def _slug(text):
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def default_output_paths(logdir, dataset=None):
  """(JSON path, TensorBoard directory) of an evaluation of a run.

  `<logdir>/evaluation.json` and `<logdir>/evaluation/`; with another data
  set both names get its name appended, so no evaluation overwrites another.
  """
  suffix = "" if dataset is None else "-" + _slug(os.path.basename(
      dataset.rstrip("/")) if ":" in dataset else dataset)
  return (os.path.join(logdir, f"evaluation{suffix}.json"),
          os.path.join(logdir, f"evaluation{suffix}"))


def check_writable(path):
  """ConfigError unless a file can be written at `path`."""
  if os.path.isdir(path):
    raise ConfigError(f"--output_json {path} is a directory")
  directory = os.path.dirname(os.path.abspath(path))
  parent = directory
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
    raise ConfigError(f"--output_json {path}: cannot write to {directory}")


def write_json(path, result):
  """Writes the result atomically (a crash never leaves half a file)."""
  rundir.write_json(path, _json_safe(result))


def _json_safe(value):
  if isinstance(value, dict):
    return {k: _json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(v) for v in value]
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


SCALAR_KEYS = ("neg_elbo", "bits_per_dim", "rate", "distortion", "iwae_nll",
               "iwae_bits_per_dim", "active_units", "mutual_information",
               "beta_eff", "beta_norm", "kl_weight", "sigma")


def write_tensorboard(directory, result, model, preview, step):
  """Scalars, per-dimension KL, the table, reconstructions and traversals."""
  import tensorflow as tf
  from tfvae.metrics import traversals
  from tfvae.training import tensorboard as tb

  writer = tf.summary.create_file_writer(directory)
  with writer.as_default(step=step):
    for key in SCALAR_KEYS:
      if result.get(key) is not None:
        tf.summary.scalar(key, float(result[key]))
    tf.summary.scalar("num_collapsed_dims", len(result["collapsed_dims"]))
    for j, value in enumerate(result["kl_per_dim"]):
      tf.summary.scalar(f"kl_per_dim/{j:02d}", value)
    for short, _ in HEADLINE_METRICS:
      if result.get(short) is not None:
        tf.summary.scalar(f"disentanglement/{short}", result[short])
    tf.summary.text("evaluation", "```\n" + format_table(result) + "\n```")
    recon = model.reconstruct(tf.convert_to_tensor(preview)).numpy()
    pairs = np.concatenate([preview, recon], axis=0)
    tf.summary.image("inputs_top_reconstructions_bottom",
                     tb.image_grid(pairs, len(preview)))
    traversals.write_traversals(model, preview, result["kl_per_dim"], step)
  writer.close()


def format_table(result):
  """The human-readable table printed by `scripts/evaluate.py`."""
  rows = [
      ("data set", f"{result['dataset']} ({result['split']}, "
                   f"{result['num_examples']} examples)"),
  ]
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
  labels = {
      "mig": "MIG", "beta_vae": "beta-VAE score",
      "factor_vae": "FactorVAE score",
      "dci_disentanglement": "DCI disentanglement",
      "dci_completeness": "DCI completeness",
      "dci_informativeness": "DCI informativeness",
      "sap": "SAP"}
  for short, _ in HEADLINE_METRICS:
    if result.get(short) is not None:
      rows.append((labels[short], f"{result[short]:.4f}"))
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def load_json(path):
  with open(path) as f:
    return json.load(f)
