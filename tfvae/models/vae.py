"""The general VAE: any encoder and decoder, a likelihood, a weighting, a balancer.

Per example i, with K event features and J latent dimensions:

    D_i = -log p(x_i | z_i)    (the likelihood, `tfvae.likelihoods`)
    R_i = KL(q(z|x_i) || p(z)) (analytic, Kingma & Welling 2014, or one-sample
                                Monte Carlo)
    rec_i = D_i / K_r,  kl_i = R_i / J_r   (the `Weighting`'s reductions)

and the balancer (`tfvae.balancing`) turns these true terms into the loss
(constant or scheduled weight, free bits, capacity, GECO, ControlVAE, ...).
Whatever the balancer, the model reports the unweighted distortion and rate in
nats and the effective beta in ELBO units, so every run is comparable.

    vae = tfvae.VAE(encoder, decoder,
                    likelihood=tfvae.likelihoods.Gaussian(sigma="learned"),
                    weighting=tfvae.Weighting(rec="mean", kl="mean", beta=0.1),
                    balancer=tfvae.balancers.Linear(warmup_steps=10_000))
    vae.compile(optimizer="adam")
    vae.fit(x_train, validation_data=x_val, epochs=20)
"""

import keras
import numpy as np
import tensorflow as tf

from tfvae import balancing
from tfvae import likelihoods as likelihoods_lib
from tfvae.models import objective as objective_lib
from tfvae.models.base import BaseVAE
from tfvae.models.base import check_type
from tfvae.models.base import images_from_batch
from tfvae.objectives.weighting import Weighting

KL_ESTIMATORS = objective_lib.KL_ESTIMATORS


def _first_batch(dataset):
  return images_from_batch(next(iter(dataset.take(1))))


@keras.saving.register_keras_serializable(package="tfvae", name="VAE")
class VAE(BaseVAE):
  """A VAE with a stated weighting convention.

  `vae.save("model.keras")` and `keras.models.load_model("model.keras")`
  round-trip the networks, the likelihood (a learned sigma included), the
  weighting, the balancer with its state and the optimiser (its step count),
  so `fit` after loading continues where training stopped. A user's own
  likelihood or balancer saves the same way once registered
  (`tfvae.likelihoods.register`, `tfvae.balancers.register`); a KL schedule
  given as a Python function cannot be saved (use a built-in schedule).

  Args:
    encoder: x -> (mean, log_variance) or one [batch, 2 J] tensor.
    decoder: z -> likelihood parameters, [batch] + likelihood.params_shape.
    likelihood: a `tfvae.likelihoods.Likelihood` (default: Gaussian with a
      learned shared sigma, mean from the data's range).
    weighting: a `tfvae.Weighting` (default: sum/sum, beta 1: the ELBO).
    balancer: a `tfvae.balancing.Balancer` or a registered name (default:
      the constant weight of `weighting`).
    kl_estimator: "analytic" (closed form) or "monte_carlo" (one sample).
    seed: seed of the training noise.
  """

  def __init__(self, encoder, decoder, likelihood=None, weighting=None,
               balancer=None, kl_estimator="analytic", seed=0, **kwargs):
    likelihood = likelihoods_lib.Gaussian() if likelihood is None else \
        likelihood
    weighting = Weighting() if weighting is None else weighting
    if balancer is None:
      balancer = balancing.KLWeight()
    elif isinstance(balancer, str):
      balancer = balancing.get(balancer)
    check_type("likelihood", likelihood, likelihoods_lib.Likelihood)
    check_type("weighting", weighting, Weighting)
    check_type("balancer", balancer, balancing.Balancer)
    if kl_estimator not in KL_ESTIMATORS:
      raise ValueError(f"kl_estimator must be one of "
                       f"{', '.join(KL_ESTIMATORS)}, got {kl_estimator!r}")
    extra = tuple(balancer.scalar_names)
    if getattr(likelihood, "sigma_mode", None) is not None:
      extra += ("sigma",)
    extra += tuple(likelihood.scalar_names)
    kwargs.setdefault("name", "vae")
    super().__init__(encoder, decoder, extra_scalars=extra, seed=seed,
                     **kwargs)
    self.likelihood = likelihood
    self.weighting = weighting
    self.balancer = balancer
    self.kl_estimator = kl_estimator

  SERIALIZED_OBJECTS = ("encoder", "decoder", "likelihood", "weighting",
                        "balancer")

  def get_config(self):
    config = super().get_config()
    config.update(
        likelihood=keras.saving.serialize_keras_object(self.likelihood),
        weighting=keras.saving.serialize_keras_object(self.weighting),
        balancer=keras.saving.serialize_keras_object(self.balancer),
        kl_estimator=self.kl_estimator)
    return config

  # ----------------------------------------------------------- shapes

  def build_likelihood(self, event_shape):
    self.likelihood.build_for(event_shape)

  def decoder_output_shape(self, event_shape):
    return self.likelihood.params_shape(event_shape)

  @property
  def kl_weight(self):
    """The weight as written on the reduced KL (needs the model built)."""
    return self.weighting.kl_weight(self.num_features, self.latent_dim)

  # ----------------------------------------------------------- the model

  def decode_mean(self, z):
    return self.likelihood.mean(self.decode_params(z))

  def draw(self, z, seed=None):
    return self.likelihood.sample(self.decode_params(z), seed=seed)

  def decode_distribution_params(self, z):
    """For serving: the decoder distribution's mean and its parameters."""
    return self.likelihood.serving_outputs(self.decode_params(z))

  def log_likelihood(self, x, z):
    """log p(x|z) per example (nats)."""
    x = tf.cast(x, tf.float32)
    return self.likelihood.log_likelihood(x, self.decode_params(z))

  def compute_terms(self, x, training=False):
    x = tf.cast(x, tf.float32)
    self.ensure_built(x)
    z_mean, z_log_variance = self.encode(x, training=training)
    z = self.sample_posterior(z_mean, z_log_variance, training)
    params = self.decode_params(z, training=training)
    optimizer = getattr(self, "optimizer", None)
    step = (optimizer.iterations if optimizer is not None else 0)
    result = objective_lib.model_objective(
        x, z_mean, z_log_variance, z, params, self.likelihood,
        weighting=self.weighting, balancer=self.balancer, step=step,
        training=training, kl_estimator=self.kl_estimator)
    result.update(self.likelihood.summaries(params, x))
    sigma = self.likelihood.sigma_tensor(params, x)
    if sigma is not None:
      result["sigma"] = sigma
      if training and self.likelihood.sigma_mode == "optimal":
        result["updates"].append(
            (self.likelihood.last_log_sigma, tf.math.log(sigma)))
    return result

  # ------------------------------------------------------- Keras entry points

  def set_kl_schedule(self, schedule):
    """Makes the KL weight `schedule(step)`, computed inside every step.

    Used by `tfvae.callbacks.KLSchedule`; needs a constant-weight balancer
    (alone or inside `FreeBits`).
    """
    target = getattr(self.balancer, "inner", self.balancer)
    if not isinstance(target, balancing.KLWeight):
      raise ValueError(
          f"a KL schedule needs the constant-weight balancer, but this model's "
          f"balancer is {type(target).__name__}, which sets the weight itself")
    target.schedule = schedule

  def resolve_data_range(self, x):
    """Fixes a Gaussian likelihood's mean="auto" from the data's range:
    sigmoid for data in [0, 1], identity otherwise (the first batch of a
    `tf.data.Dataset`, all of an array)."""
    resolve = getattr(self.likelihood, "resolve_mean", None)
    if resolve is None or self.likelihood.mean_function != "auto" or x is None:
      return
    values = np.asarray(_first_batch(x) if isinstance(x, tf.data.Dataset)
                        else images_from_batch(x))
    resolve(bool(values.size) and float(values.min()) >= 0.0 and
            float(values.max()) <= 1.0)


  # -------------------------------------------------- the balancer's own nets

  def own_trainable_variables(self):
    return self.balancer.own_trainable_variables

  def train_own(self, x, terms):
    del x
    step = tf.cast(self.optimizer.iterations, tf.int64)
    return self.balancer.train_own(terms["terms"], step)
