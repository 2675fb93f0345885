"""Diagnostics of a trained VAE on a data set: the true quantities, whatever the weighting.

- Rate R = E_x[KL(q(z|x) || p(z))] and distortion D = E_x E_q[-log p(x|z)], nats
  (Alemi et al. 2018, "Fixing a Broken ELBO"); -ELBO = D + R, bits/dim =
  -ELBO / (K ln 2). Averages are exact per-example means over the whole set.
- Per-dimension KL: E_x[KL_j].
- Active units (Burda et al. 2016, IWAE paper): unit u is active when
  Var_x(E_q[z_u | x]) > 0.01.
- Posterior collapse (Lucas et al. 2019, "Don't Blame the ELBO!"): dimension j
  is (eps, delta)-collapsed when P_x[KL_j(x) < eps] >= 1 - delta, i.e. its KL
  is below `collapse_threshold` nats for nearly all x (delta =
  `collapse_delta`).
- Importance-weighted log-likelihood (Burda et al. 2016):
  log p(x) ~= logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k,
  z_i ~ q(z|x). It is a lower bound that tightens with k and equals the ELBO
  in expectation at k = 1.
- Mutual information I(x; z) (He et al. 2019, "Lagging inference networks"):
  E_x E_q[log q(z|x)] - E_q(z)[log q(z)], with log q(z_i) estimated by
  logsumexp_j log q(z_i | x_j) over the batch minus log B. Both expectations
  are taken on the SAME samples z_i ~ q(z|x_i) (S of them per x): He et al.'s
  code uses the closed-form entropy for the first term, whose difference from
  the one-sample second term has a standard deviation of ~sqrt(J/2 / B) nats,
  more than the rate of a nearly collapsed model. With shared samples the
  estimate is the InfoNCE-type bound mean_i log [q(z_i|x_i) / (1/B sum_j
  q(z_i|x_j))] (Poole et al. 2019): <= I(x; z) <= R in expectation, exactly 0
  when all posteriors coincide, and at most log B.

- The rate's parts (Chen et al. 2018, eq. 2; `tfvae.objectives.decomposition`):
  `index_code_mi` + `total_correlation` + `dimwise_kl` = the Monte Carlo KL of
  one posterior sample per example, drawn from a stateless seed (reproducible),
  estimated with minibatch stratified sampling over N = the evaluated set's
  size, in consecutive batches of at most `KL_PARTS_BATCH` = 256 examples (the
  set split into equal batches, sizes differing by at most one) and averaged
  weighted by batch size, so the three add up to the mean Monte Carlo KL over
  the whole set and agree with `rate` up to Monte Carlo error.

The rate and the per-dimension KL are always the closed form of Kingma &
Welling (eq. 10), whatever `--kl_estimator` the model trains with.

The per-batch work (the model's terms, the closed-form KL, the extra
distortion samples, the IWAE estimate) runs as one `tf.function` per model
and setting, and the MI and rate-split estimates as `tf.function`s shared by
every model: the same ops as run eagerly, traced once instead of dispatched
one at a time. Models that are not Keras models (a loaded SavedModel's
adapter, test doubles) are evaluated eagerly.

Every Monte Carlo draw is stateless, seeded from `evaluate`'s seed and the
draw's place (purpose, batch, chunk; `tfvae.objectives.seeds`): the numbers are a
function of (weights, data, seed), bit for bit, in any process and after any
resume.
"""

# Size: every diagnostic `evaluate` reports, its estimators and their
# compiled per-batch work, which share the stateless seeds' layout.

import contextlib
import math
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfvae.models import inputs
from tfvae.objectives import decomposition
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib
from tfvae.objectives import seeds

ACTIVE_UNIT_THRESHOLD = 0.01
# (eps, delta) of the collapse check: KL_j < 0.05 nats for >= 99% of examples.
# With eps = 0.01, dimensions with a mean KL of 0.005 nats and no active unit
# were still reported as used because ~15% of examples exceeded 0.01.
COLLAPSE_THRESHOLD = 0.05
COLLAPSE_DELTA = 0.01
MI_SAMPLES = 10
# Batch size and seed of the MI / TC / dimension-wise KL split of the rate.
KL_PARTS_BATCH = 256
KL_PARTS_SEED = 15
# Examples x samples x features decoded at once by the IWAE estimate (memory).
IWAE_MAX_ELEMENTS = 2**23


def _posterior_samples(z_mean, z_log_variance, num_samples, seed=None):
  """z_s ~ q(z|x): [num_samples, batch, J] (stateless given a seed)."""
  eps = seeds.normal(tf.concat([[num_samples], tf.shape(z_mean)], 0), seed)
  return kl_lib.reparameterize(z_mean[None], z_log_variance[None], eps)


def _tiled_log_likelihood(model, x, z):
  """log p(x | z_s) for samples z [S, batch, J] of each example: [S, batch]."""
  num_samples = tf.shape(z)[0]
  flat_z = tf.reshape(z, [-1, model.latent_dim])
  tiled_x = tf.reshape(
      tf.tile(x[None],
              tf.concat([[num_samples], tf.ones_like(tf.shape(x))], 0)),
      tf.concat([[-1], tf.shape(x)[1:]], 0))
  return tf.reshape(model.log_likelihood(tiled_x, flat_z),
                    [num_samples, tf.shape(x)[0]])


def _samples_per_chunk(model, x, num_samples):
  # A model whose decoder emits several outputs per feature (a sequence
  # model's V logits per token) says so in `params_per_feature`.
  per_sample = (int(x.shape[0]) * int(model.num_features) *
                int(getattr(model, "params_per_feature", 1)))
  return max(1, min(num_samples, IWAE_MAX_ELEMENTS // max(1, per_sample)))


def posterior_distortion(model, x, z_mean, z_log_variance, num_samples,
                         seed=None):
  """Per-example distortion -E_q[log p(x|z)] from `num_samples` samples."""
  chunk = _samples_per_chunk(model, x, num_samples)
  total, remaining = 0.0, num_samples
  while remaining > 0:
    k = min(chunk, remaining)
    z = _posterior_samples(z_mean, z_log_variance, k,
                           seed=_chunk_seed(seed, num_samples - remaining))
    total += tf.reduce_sum(_tiled_log_likelihood(model, x, z), axis=0)
    remaining -= k
  return -total / num_samples


def _chunk_seed(seed, first_sample):
  """Each chunk of samples gets its own stream (None: the global one)."""
  return None if seed is None else seeds.fold(seed, first_sample)


def log_importance_weights(model, x, num_samples, seed=None):
  """[num_samples, batch] of log p(x, z_i) - log q(z_i | x).

  `seed`: int or pair for stateless draws; None draws from the global stream.
  """
  z_mean, z_log_variance = model.encode(x)
  z = _posterior_samples(z_mean, z_log_variance, num_samples, seed=seed)
  log_px_z = _tiled_log_likelihood(model, x, z)
  log_pz = tf.reduce_sum(kl_lib.log_normal(z, 0.0, 0.0), axis=-1)
  log_qz = tf.reduce_sum(
      kl_lib.log_normal(z, z_mean[None], z_log_variance[None]), axis=-1)
  return log_px_z + log_pz - log_qz


def iwae_log_likelihood(model, x, num_samples, chunk=None, seed=None):
  """Per-example importance-weighted estimate of log p(x), nats.

  The k samples are decoded `chunk` at a time; by default as many as keep
  batch x chunk x features below IWAE_MAX_ELEMENTS.
  """
  if chunk is None:
    chunk = _samples_per_chunk(model, x, num_samples)
  pieces = []
  remaining = num_samples
  while remaining > 0:
    k = min(chunk, remaining)
    pieces.append(log_importance_weights(
        model, x, k, seed=_chunk_seed(seed, num_samples - remaining)))
    remaining -= k
  log_w = tf.concat(pieces, axis=0)
  return tf.reduce_logsumexp(log_w, axis=0) - math.log(num_samples)


def _mutual_information_tensor(z, z_mean, z_log_variance):
  """The estimate of `mutual_information_from_samples` as a scalar tensor."""
  batch = tf.cast(tf.shape(z_mean)[0], tf.float32)
  estimates = []
  # One sample set at a time: [B, B, J] floats in memory.
  for s in range(z.shape[0]):
    z_s = z[s]
    # log q(z_si | x_j) for all pairs: [B (samples), B (posteriors)].
    log_density = tf.reduce_sum(
        kl_lib.log_normal(z_s[:, None, :], z_mean[None], z_log_variance[None]),
        axis=-1)
    log_q_z_given_x = tf.linalg.diag_part(log_density)
    log_qz = tf.reduce_logsumexp(log_density, axis=1) - tf.math.log(batch)
    estimates.append(tf.reduce_mean(log_q_z_given_x - log_qz))
  return tf.reduce_mean(estimates)


def _sampled_mutual_information(z_mean, z_log_variance, seed, num_samples):
  """The MI estimate of `num_samples` draws z ~ q(z|x) (a scalar tensor)."""
  z = _posterior_samples(z_mean, z_log_variance, num_samples, seed)
  z = tf.ensure_shape(z, [num_samples, *z_mean.shape])
  return _mutual_information_tensor(z, z_mean, z_log_variance)


# Shared by every model: traced once per (batch shape, num_samples).
_compiled_mutual_information = tf.function(_sampled_mutual_information,
                                           autograph=False)


def mutual_information_from_samples(z, z_mean, z_log_variance):
  """I(x; z) estimate from samples z [S, B, J] of the B posteriors, nats.

  mean over s, i of log q(z_si | x_i) - (logsumexp_j log q(z_si | x_j) - log B).
  """
  z = tf.convert_to_tensor(z, tf.float32)
  z_mean = tf.convert_to_tensor(z_mean, tf.float32)
  z_log_variance = tf.convert_to_tensor(z_log_variance, tf.float32)
  return float(_mutual_information_tensor(z, z_mean, z_log_variance))


def mutual_information(z_mean, z_log_variance, num_samples=MI_SAMPLES,
                       seed=None, compiled=True):
  """Batch estimate of I(x; z) (He et al. 2019; shared samples), nats.

  `seed`: int or pair for stateless draws; None draws from the global stream.
  `compiled`: run it as a `tf.function` (False: eagerly; the same numbers).
  """
  z_mean = tf.convert_to_tensor(z_mean, tf.float32)
  z_log_variance = tf.convert_to_tensor(z_log_variance, tf.float32)
  if seed is None or not compiled:  # The global stream is drawn eagerly.
    return float(_sampled_mutual_information(z_mean, z_log_variance, seed,
                                             num_samples))
  return float(_compiled_mutual_information(
      z_mean, z_log_variance, seeds.root(seed), num_samples))


# Shared by every model: traced once per (batch shape, set size, estimator).
_compiled_decompose = tf.function(decomposition.decompose_per_example,
                                  autograph=False)


def kl_parts(z_means, z_log_vars, batch_size=KL_PARTS_BATCH,
             seed=KL_PARTS_SEED, estimator="mss", compiled=True):
  """The rate split into index-code MI, TC and dimension-wise KL, nats.

  Args:
    z_means, z_log_vars: [N, J] posterior parameters of the whole set.
    batch_size: the largest batch of the estimator (see the module doc).
    seed: stateless seed of the one posterior sample per example.
    estimator: "mss" or "mws" (`tfvae.objectives.decomposition`).
    compiled: run each batch as a `tf.function` (False: eagerly; the same
      numbers).

  Returns:
    dict with `index_code_mi`, `total_correlation`, `dimwise_kl` (NaN for
    fewer than 2 examples) and `kl_parts_batch` (the batch size used).
  """
  z_means = np.asarray(z_means, np.float64)
  z_log_vars = np.asarray(z_log_vars, np.float64)
  count = z_means.shape[0]
  if count < 2:
    return {**{name: float("nan") for name in decomposition.PARTS},
            "kl_parts_batch": int(count)}
  eps = seeds.normal(z_means.shape, seed, dtype=tf.float64)
  z = kl_lib.reparameterize(z_means, z_log_vars, eps).numpy()
  num_batches = -(-count // batch_size)
  sums = dict.fromkeys(decomposition.PARTS, 0.0)
  for index in np.array_split(np.arange(count), num_batches):
    decompose = (_compiled_decompose if compiled else
                 decomposition.decompose_per_example)
    parts = decompose(tf.constant(z[index]), tf.constant(z_means[index]),
                      tf.constant(z_log_vars[index]), count, estimator)
    for name in decomposition.PARTS:
      sums[name] += float(tf.reduce_sum(parts[name]))
  result = {name: value / count for name, value in sums.items()}
  result["kl_parts_batch"] = int(-(-count // num_batches))
  return result


@contextlib.contextmanager
def posterior_noise(model, seed):
  """The model's test-time posterior sample z ~ q(z|x) drawn with `seed`.

  Models read `eval_seed` in `sample_posterior(training=False)` (and the
  SavedModel adapter in `compute_terms`); without it they draw from the
  global stream.
  """
  previous = getattr(model, "eval_seed", None)
  model.eval_seed = seed
  try:
    yield
  finally:
    model.eval_seed = previous


def active_units(z_means, threshold=ACTIVE_UNIT_THRESHOLD):
  """(count, per-unit variance of the posterior means over the data)."""
  variances = np.var(np.asarray(z_means, np.float64), axis=0)
  return int(np.sum(variances > threshold)), variances


def _batch_terms(model, x, terms_seed, distortion_seed, iwae_seed,
                 iw_samples, distortion_samples):
  """One batch's per-example numbers of `evaluate`, as tensors."""
  with posterior_noise(model, terms_seed):
    terms = model.compute_terms(x, training=False)
  out = {
      # Closed-form KL even when the model trains with a Monte Carlo estimate.
      "kl_per_example": kl_lib.gaussian_kl(terms["z_mean"],
                                           terms["z_log_variance"]),
      "distortion": terms["distortion"],
      "loss": terms["loss"],
      "z_mean": terms["z_mean"],
      "z_log_variance": terms["z_log_variance"],
  }
  if distortion_samples > 1:
    out["distortion"] = posterior_distortion(
        model, x, terms["z_mean"], terms["z_log_variance"],
        distortion_samples, seed=distortion_seed)
  if iw_samples:
    out["iwae"] = iwae_log_likelihood(model, x, iw_samples, seed=iwae_seed)
  return out


# model -> {(iw_samples, distortion_samples): its compiled `_batch_terms`}.
_COMPILED_BATCH_TERMS = weakref.WeakKeyDictionary()


def _batch_terms_function(model, iw_samples, distortion_samples, compiled):
  """`_batch_terms` for this model and setting, compiled once and kept."""
  if not compiled or not isinstance(model, keras.Model):
    return lambda *args: _batch_terms(model, *args, iw_samples,
                                      distortion_samples)
  functions = _COMPILED_BATCH_TERMS.setdefault(model, {})
  key = (int(iw_samples), int(distortion_samples))
  if key not in functions:
    # The model is held weakly: the cache must not keep it alive.
    model_ref = weakref.ref(model)
    functions[key] = tf.function(
        lambda *args: _batch_terms(model_ref(), *args, *key), autograph=False)
  return functions[key]


def evaluate(model, dataset, iw_samples=0, mi_batch_size=None,
             collapse_threshold=COLLAPSE_THRESHOLD, seed=None,
             collapse_delta=COLLAPSE_DELTA, distortion_samples=1,
             compiled=True):
  """Exact data-set averages of every diagnostic.

  Args:
    model: a tfvae model (`compute_terms`, `encode`, `log_likelihood`).
    dataset: finite tf.data of float image batches.
    iw_samples: k for the importance-weighted log-likelihood (0 skips it).
    mi_batch_size: batch for the MI estimate (the data set's batches if None).
    collapse_threshold: eps, nats below which a dimension's KL counts as
      collapsed for an example.
    seed: root of every posterior sample's stateless seed (int or pair;
      None is 0): the result is a function of (model, dataset, seed).
    collapse_delta: a dimension is collapsed when its KL is below eps for at
      least a fraction 1 - delta of the examples.
    distortion_samples: posterior samples per example of the distortion
      estimate (1: the model's own one-sample `compute_terms`).
    compiled: run the per-batch work and the estimates as `tf.function`s
      (False: eagerly, op by op; the same numbers to float32 rounding).

  Returns:
    dict of floats/lists; see the module doc for definitions.
  """
  seed = 0 if seed is None else seed
  batch_terms = _batch_terms_function(model, iw_samples, distortion_samples,
                                      compiled)
  sums = _DataSetSums()
  for batch, x in enumerate(dataset):
    sums.add(batch_terms(
        x, seeds.fold(seed, seeds.DISTORTION, batch),
        seeds.fold(seed, seeds.EXTRA_DISTORTION, batch),
        seeds.fold(seed, seeds.IWAE, batch)), int(x.shape[0]),
             collapse_threshold)
  if sums.count == 0:
    raise ValueError("evaluate() got an empty data set")
  count = sums.count
  means = {name: value / count for name, value in sums.totals.items()}
  result = {"neg_elbo": elbo.neg_elbo(means["distortion"], means["rate"]),
            **means}
  result["bits_per_dim"] = elbo.bits_per_dim(result["neg_elbo"],
                                             model.num_features)
  z_means = np.concatenate(sums.means)
  z_log_vars = np.concatenate(sums.log_vars)
  result.update(sums.latent_summary(z_means, collapse_delta),
                distortion_samples=int(distortion_samples),
                latent_dim=int(model.latent_dim))
  result.update(_batched_mutual_information(
      z_means, z_log_vars, mi_batch_size or min(count, 512), seed, compiled))
  result.update(kl_parts(z_means, z_log_vars,
                         seed=seeds.fold(seed, seeds.KL_PARTS),
                         compiled=compiled))
  if iw_samples:
    result["iwae_nll"] = float(np.mean(-np.concatenate(sums.iwae)))
    result["iwae_bits_per_dim"] = elbo.bits_per_dim(result["iwae_nll"],
                                                    model.num_features)
    result["iw_samples"] = int(iw_samples)
  return result, z_means, z_log_vars


class _DataSetSums:
  """Float64 sums over a data set's batches of `_batch_terms`' numbers."""

  def __init__(self):
    self.count = 0
    self.totals = {"rate": 0.0, "distortion": 0.0, "loss": 0.0}
    self.kl_sum = None  # [J] summed KL per dimension.
    self.below_eps = None  # [J] examples whose KL is below the threshold.
    self.means, self.log_vars, self.iwae = [], [], []

  def latent_summary(self, z_means, collapse_delta):
    """Per-dimension KL, active units and collapsed dimensions."""
    num_active, variances = active_units(z_means)
    return {
        "num_examples": self.count,
        "kl_per_dim": [float(v) for v in self.kl_sum / self.count],
        "active_units": num_active,
        "z_mean_variance": [float(v) for v in variances],
        "collapsed_dims": [int(j) for j in np.where(
            self.below_eps >= (1.0 - collapse_delta) * self.count)[0]],
    }

  def add(self, terms, batch_size, collapse_threshold):
    self.count += batch_size
    kl_per_example = terms["kl_per_example"].numpy()
    self.totals["rate"] += float(np.sum(kl_per_example, dtype=np.float64))
    self.totals["distortion"] += float(tf.reduce_sum(terms["distortion"]))
    self.totals["loss"] += float(terms["loss"]) * batch_size
    per_dim = np.sum(kl_per_example, axis=0, dtype=np.float64)
    self.kl_sum = per_dim if self.kl_sum is None else self.kl_sum + per_dim
    small = np.sum(kl_per_example < collapse_threshold, axis=0)
    self.below_eps = small if self.below_eps is None else \
        self.below_eps + small
    self.means.append(np.asarray(terms["z_mean"]))
    self.log_vars.append(np.asarray(terms["z_log_variance"]))
    if "iwae" in terms:
      self.iwae.append(terms["iwae"].numpy())


def _batched_mutual_information(z_means, z_log_vars, mi_batch, seed,
                                compiled):
  """The MI estimate averaged over consecutive blocks of `mi_batch` codes."""
  count = z_means.shape[0]
  mis = [mutual_information(
      z_means[start:start + mi_batch], z_log_vars[start:start + mi_batch],
      seed=seeds.fold(seed, seeds.MUTUAL_INFORMATION, start),
      compiled=compiled)
         for start in range(0, count - mi_batch + 1, mi_batch)]
  return {"mutual_information": float(np.mean(mis)) if mis else float("nan"),
          "mutual_information_batch": int(mi_batch)}


def evaluate_model(model, data, batch_size=256, iw_samples=0, seed=0):
  """Exact diagnostics of a tfvae model on data (the Python API's `evaluate`).

  Args:
    model: a tfvae `VAE` or `ReferenceVAE` (built, or built by this call).
    data: an array [N, ...] or a batched `tf.data.Dataset` of examples (or of
      (x, ...) tuples).
    batch_size: batch size for an array.
    iw_samples: k of the importance-weighted log-likelihood (0 skips it).
    seed: seed of the posterior samples.

  Returns:
    dict: neg_elbo (nats), bits_per_dim, rate, distortion, loss, kl_per_dim,
    active_units, collapsed_dims, mutual_information, (iwae_nll), ...

  Raises:
    DataError (a ValueError) naming `data` when they are empty, hold NaN or
    infinity, leave the likelihood's support or differ in shape from the
    model's examples (an array whole, a Dataset by its first batch).
  """
  inputs.check_data(getattr(model, "likelihood", None), data,
                    argument="data",
                    event_shape=getattr(model, "event_shape", None))
  if isinstance(data, tf.data.Dataset):
    dataset = data.map(lambda *xs: tf.cast(xs[0], tf.float32))
  else:
    values = np.asarray(data, np.float32)
    if values.ndim < 2 or values.shape[0] == 0:
      raise ValueError(f"data must be examples of shape [N, ...] with N > 0, "
                       f"got shape {values.shape}")
    dataset = tf.data.Dataset.from_tensor_slices(values).batch(batch_size)
  prepare = getattr(model, "prepare", None)
  if prepare is not None:
    prepare(dataset)
  result, _, _ = evaluate(model, dataset, iw_samples=iw_samples, seed=seed)
  return result
