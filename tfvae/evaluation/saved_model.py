"""An exported SavedModel behind the interface the evaluation uses.

`SavedModelAdapter` calls the export's `encode`, `decode` and `reconstruct`
signatures (`tfvae.export.saved_model`). log p(x|z) at any z is the
likelihood's own math (`tfvae.likelihoods`) applied to the distribution
parameters `decode` returns, so the importance-weighted bound works from an
export too; a shared (learned or optimal) Gaussian sigma is not a decoder
parameter, so it comes from `decode`'s `scale` output as a fixed sigma.
"""

# TensorFlow loads lazily, so bad input fails before it does.
# pylint: disable=import-outside-toplevel

import math
import os

import numpy as np

from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError
from tfvae.runs import files
from tfvae.runs import paths
from tfvae.runs import versions

SIGNATURES = ("encode", "decode", "reconstruct")
EXPORT_METADATA_FILE = "tfvae_export.json"
# The question's summed squared error is a Gaussian NLL with variance 1/2.
REFERENCE_L2_SIGMA = math.sqrt(0.5)


def _per_example(values):
  import tensorflow as tf
  return tf.reduce_sum(values, axis=tf.range(1, tf.rank(values)))


def _is_number(text):
  try:
    float(text)
    return True
  except (TypeError, ValueError):
    return False


class ExportedLikelihood:
  """log p(x|z) of an export from `decode`'s outputs, by the likelihood classes.

  Args:
    name: the export's likelihood name (`bernoulli`, `continuous_bernoulli`,
      `gaussian`, `reference_l2`, `reference_bce`).
    sigma: the Gaussian's sigma setting (a number or a mode name).
    channels: C of the images.
    shared_scale: for a Gaussian with a shared sigma (learned, per channel or
      optimal), a `decode` `scale` output [.., C]: that sigma is then fixed
      per channel, since it is not among the decoder's parameters.
    mean: the Gaussian's mean function ("sigmoid" or "identity"; exports
      before tfvae 0.2 are sigmoid).
  """

  def __init__(self, name, sigma, channels, shared_scale=None,
               mean="sigmoid"):
    import tensorflow as tf
    from tfvae import likelihoods
    self.name = name
    self._split = False
    if name in ("bernoulli", "continuous_bernoulli"):
      self._parts = [likelihoods.make_likelihood(name)]
    elif name == "reference_l2":
      self._parts = [likelihoods.make_likelihood("gaussian",
                                                 REFERENCE_L2_SIGMA, channels)]
    elif name == "reference_bce":
      self._parts = []
    elif name == "gaussian" and (sigma in ("learned_pixel", "learned_feature")
                                 or _is_number(sigma)):
      self._parts = [likelihoods.make_likelihood("gaussian", sigma, channels,
                                                 mean=mean)]
    elif name == "gaussian":
      scale = tf.reshape(shared_scale, [-1, channels])[0].numpy()
      self._parts = [likelihoods.make_likelihood("gaussian", float(s), 1,
                                                 mean=mean)
                     for s in scale]
      self._split = True
    else:
      raise ConfigError(f"SavedModel likelihood {name!r} is not known to "
                        "this tfvae version")

  def log_likelihood(self, x, decoded):
    """log p(x|z) per example; `decoded` are `decode`'s outputs at z."""
    import tensorflow as tf
    from tfvae.objectives import reference
    x = tf.cast(x, tf.float32)
    params = decoded["params"]
    if self.name == "reference_bce":
      # The question's clipped BCE (its KL term is zero at a standard normal).
      latent = tf.zeros([tf.shape(x)[0], 1])
      _, _, rec = reference.question_loss(x, decoded["mean"], latent, latent,
                                          rec="bce")
      return -rec
    if self._split:
      nll = tf.concat([part.nll(x[..., c:c + 1], params[..., c:c + 1])
                       for c, part in enumerate(self._parts)], axis=-1)
    else:
      nll = self._parts[0].nll(x, params)
    return -_per_example(nll)


class SavedModelAdapter:
  """An exported tfvae model behind the interface `diagnostics.evaluate` uses.

  `encode` and `decode_mean` call the `encode` and `decode` signatures;
  `log_likelihood` is `ExportedLikelihood` applied to `decode`'s outputs.
  `compute_terms` draws one posterior sample per example, like the checkpoint
  evaluation.
  """

  def __init__(self, path):
    import tensorflow as tf
    self.path = versions.resolve_saved_model(path)
    assets = os.path.join(self.path, "assets")
    try:
      self.metadata = files.read_json(os.path.join(assets,
                                                   EXPORT_METADATA_FILE))
      self.config = ExperimentConfig.from_dict(
          files.read_json(os.path.join(assets, paths.CONFIG_FILE)))
    except (OSError, ValueError, TypeError) as e:
      raise ConfigError(f"saved_model {self.path}: not a tfvae export "
                        f"({type(e).__name__}: {e})",
                        params=("saved_model",)) from None
    self._loaded = tf.saved_model.load(self.path)
    missing = [n for n in SIGNATURES if n not in self._loaded.signatures]
    if missing:
      raise ConfigError(f"saved_model {self.path} lacks the signature(s) "
                        f"{', '.join(missing)}", params=("saved_model",))
    self._signatures = self._loaded.signatures
    self.likelihood_name = self.metadata["likelihood"]
    self.image_shape = tuple(int(d) for d in self.metadata["image_shape"])
    self.latent_dim = int(self.metadata["latent_dim"])
    self.num_features = int(np.prod(self.image_shape))
    shared_scale = None
    if self.likelihood_name == "gaussian":
      shared_scale = self.decode(tf.zeros([1, self.latent_dim])).get("scale")
    # The export's own description of its likelihood (a model built in
    # Python has no run config).
    sigma = self.metadata.get("sigma", self.config.model.sigma)
    self.likelihood = ExportedLikelihood(
        self.likelihood_name, sigma, self.image_shape[-1], shared_scale,
        mean=self.metadata.get("gaussian_mean") or "sigmoid")

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
    return self.likelihood.log_likelihood(x, self.decode(z))

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
