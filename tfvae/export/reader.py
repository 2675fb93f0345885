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
from tfvae.export import schema
from tfvae.runs import files
from tfvae.runs import versions

# The question's summed squared error is a Gaussian NLL with variance 1/2.
REFERENCE_L2_SIGMA = math.sqrt(0.5)


class ExportedLikelihood:
  """log p(x|z) of an export from `decode`'s outputs, by the likelihood classes.

  Args:
    description: the export's likelihood, as its family's `describe()` wrote
      it (`tfvae.likelihoods.from_description` rebuilds the family), or, for
      the reference port, {"likelihood": "reference_l2" | "reference_bce"}.
  """

  def __init__(self, description):
    from tfvae import likelihoods
    self.name = description["likelihood"]
    self._family = None
    if self.name == "reference_l2":
      self._family = likelihoods.Gaussian(REFERENCE_L2_SIGMA, mean="sigmoid")
    elif self.name != "reference_bce":
      try:
        self._family = likelihoods.from_description(description)
      except ConfigError:
        raise ConfigError(f"SavedModel likelihood {self.name!r} is not known "
                          "to this tfvae version (register its family before "
                          "loading)") from None

  def log_likelihood(self, x, decoded):
    """log p(x|z) per example; `decoded` are `decode`'s outputs at z."""
    import tensorflow as tf
    from tfvae.objectives import reference
    x = tf.cast(x, tf.float32)
    if self.name == "reference_bce":
      # The question's clipped BCE (its KL term is zero at a standard normal).
      latent = tf.zeros([tf.shape(x)[0], 1])
      _, _, rec = reference.question_loss(x, decoded["mean"], latent, latent,
                                          rec="bce")
      return -rec
    return self._family.serving_log_likelihood(x, decoded)


def export_description(metadata, config):
  """The likelihood description of an export's metadata; exports before
  tfvae 0.3 stored only the name, `sigma` and `gaussian_mean`."""
  if "likelihood_description" in metadata:
    return metadata["likelihood_description"]
  return {"likelihood": metadata["likelihood"],
          "sigma": metadata.get("sigma", config.model.sigma),
          "mean": metadata.get("gaussian_mean") or "sigmoid"}


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
                                                   schema.METADATA_FILE))
      self.config = ExperimentConfig.from_dict(
          files.read_json(os.path.join(assets, schema.CONFIG_FILE)))
    except (OSError, ValueError, TypeError) as e:
      raise ConfigError(f"saved_model {self.path}: not a tfvae export "
                        f"({type(e).__name__}: {e})",
                        params=("saved_model",)) from None
    self._loaded = tf.saved_model.load(self.path)
    missing = [n for n in schema.READER_SIGNATURES
               if n not in self._loaded.signatures]
    if missing:
      raise ConfigError(f"saved_model {self.path} lacks the signature(s) "
                        f"{', '.join(missing)}", params=("saved_model",))
    self._signatures = self._loaded.signatures
    self.likelihood_name = self.metadata["likelihood"]
    self.image_shape = tuple(int(d) for d in self.metadata["image_shape"])
    self.latent_dim = int(self.metadata["latent_dim"])
    self.num_features = int(np.prod(self.image_shape))
    # The export's own description of its likelihood (a model built in
    # Python has no run config).
    self.likelihood = ExportedLikelihood(
        export_description(self.metadata, self.config))

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
    from tfvae.objectives import elbo
    from tfvae.objectives import kl as kl_lib
    z_mean, z_log_variance = self.encode(x)
    z = kl_lib.sample_latent(z_mean, z_log_variance,
                             stateless_seed=getattr(self, "eval_seed", None))
    kl_per_dim = kl_lib.gaussian_kl(z_mean, z_log_variance)
    distortion = -self.log_likelihood(x, z)
    rate = tf.reduce_sum(kl_per_dim, axis=-1)
    return {"loss": tf.reduce_mean(elbo.neg_elbo(distortion, rate)),
            "distortion": distortion, "rate": rate, "kl_per_dim": kl_per_dim,
            "z_mean": z_mean, "z_log_variance": z_log_variance}
