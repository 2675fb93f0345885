"""The VAE objective as one function: for the model, and for your own training loop.

Given a batch x, the posterior parameters, the posterior sample z and the
decoder's output for z, `objective` computes the true terms (distortion D_i,
rate R_i in nats; Kingma & Welling 2014; Alemi et al. 2018), reduces them as
the `Weighting` states and lets the balancer turn them into the loss:

    with tf.GradientTape() as tape:
      mean, log_variance = encoder(x)
      z = mean + tf.exp(0.5 * log_variance) * tf.random.normal(tf.shape(mean))
      out = tfvae.objective(x, mean, log_variance, z, decoder(z),
                            likelihood=tfvae.likelihoods.Bernoulli())
    grads = tape.gradient(out["loss"], variables)

The returned dict has `loss` (what to minimise; a batch average that is right
under tf.distribute too), the per-example `distortion`, `rate` and
`kl_per_dim`, the batch's `neg_elbo` and `bits_per_dim`, and the weight in
every unit (`kl_weight` as written, `beta_eff`, `beta_norm`), plus the
balancer's scalars and its state `updates` (apply them after your optimiser
step when training).
"""

import numpy as np
import tensorflow as tf

from tfvae import balancing
from tfvae.balancing.base import Terms
from tfvae.models import inputs
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib
from tfvae.objectives.weighting import Weighting

KL_ESTIMATORS = ("analytic", "monte_carlo")


def _check_shapes(x, z_mean, z_log_variance, z, params, likelihood):
  """ValueError naming the argument whose static shape does not fit."""
  shapes = {name: tuple(tf.convert_to_tensor(value).shape) for name, value in
            (("z_mean", z_mean), ("z_log_variance", z_log_variance),
             ("z", z))}
  if len(shapes["z_mean"]) != 2:
    raise ValueError(f"z_mean must have shape [batch, latent_dim], got "
                     f"{list(shapes['z_mean'])}")
  for name in ("z_log_variance", "z"):
    if shapes[name] != shapes["z_mean"]:
      raise ValueError(f"{name} must have the shape of z_mean "
                       f"{list(shapes['z_mean'])}, got {list(shapes[name])}")
  event_shape = tuple(tf.convert_to_tensor(x).shape[1:])
  if None in event_shape:
    return
  expected = tuple(likelihood.params_shape(event_shape))
  got = tuple(tf.convert_to_tensor(params).shape[1:])
  if got != expected:
    raise ValueError(
        f"params (the decoder's output) must have shape [batch, "
        f"{', '.join(map(str, expected))}] for {type(likelihood).__name__} "
        f"and x of shape [batch, {', '.join(map(str, event_shape))}], got "
        f"{list(got)}")


def objective(x, z_mean, z_log_variance, z, params, likelihood,
              weighting=None, balancer=None, step=0, training=True,
              kl_estimator="analytic"):
  """The loss and the true terms of one batch (see the module docstring).

  Args:
    x: the batch, [B, ...] of any event shape.
    z_mean, z_log_variance: the posterior's parameters, [B, J].
    z: the posterior sample the decoder saw, [B, J].
    params: the decoder's output for z, [B] + likelihood.params_shape.
    likelihood: a `tfvae.likelihoods.Likelihood`.
    weighting: a `tfvae.Weighting` (default: sum/sum, beta 1).
    balancer: a `tfvae.balancing.Balancer` (default: the constant weight).
    step: the optimiser steps done before this batch (schedules, capacity).
    training: whether controllers return state updates.
    kl_estimator: "analytic" (closed form) or "monte_carlo" (of z).

  Raises:
    ValueError naming the argument whose shape does not fit; called eagerly
    (not inside a tf.function), DataError (a ValueError) naming `x` for
    empty, non-finite or out-of-support data, as `VAE.fit` checks them.
  """
  _check_shapes(x, z_mean, z_log_variance, z, params, likelihood)
  if tf.executing_eagerly():
    # The documented GradientTape loop sees values: check them as `VAE.fit`
    # does. Inside a tf.function only the shapes are known.
    inputs.check_data(likelihood, np.asarray(x))
  return model_objective(x, z_mean, z_log_variance, z, params, likelihood,
                         weighting=weighting, balancer=balancer, step=step,
                         training=training, kl_estimator=kl_estimator)


def model_objective(x, z_mean, z_log_variance, z, params, likelihood,
                    weighting=None, balancer=None, step=0, training=True,
                    kl_estimator="analytic"):
  """`objective` without the argument checks (the model has done them)."""
  weighting = Weighting() if weighting is None else weighting
  balancer = balancing.KLWeight() if balancer is None else balancer
  if kl_estimator not in KL_ESTIMATORS:
    raise ValueError(f"kl_estimator must be one of {', '.join(KL_ESTIMATORS)}, "
                     f"got {kl_estimator!r}")
  x = tf.cast(x, tf.float32)
  nll = likelihood.nll(x, params)
  if kl_estimator == "analytic":
    kl_per_dim = kl_lib.gaussian_kl(z_mean, z_log_variance)
  else:
    kl_per_dim = kl_lib.monte_carlo_kl(z, z_mean, z_log_variance)
  num_features = int(np.prod(x.shape[1:]))
  latent_dim = int(z_mean.shape[-1])
  rec_divisor = weighting.rec_divisor(num_features)
  kl_divisor = weighting.kl_divisor(latent_dim)
  distortion = elbo.reduce_features(nll, "sum")
  rate = tf.reduce_sum(kl_per_dim, axis=1)
  terms = Terms(
      distortion=distortion, rate=rate, kl_per_dim=kl_per_dim,
      rec=distortion / rec_divisor, kl=rate / kl_divisor,
      kl_weight=weighting.kl_weight(num_features, latent_dim),
      z=z, z_mean=z_mean, z_log_variance=z_log_variance,
      num_features=num_features, latent_dim=latent_dim,
      rec_divisor=rec_divisor, kl_divisor=kl_divisor)
  out = balancer.balance(terms, tf.cast(step, tf.int64), training)
  neg_elbo = elbo.global_batch_mean(elbo.neg_elbo(distortion, rate))
  result = {
      "loss": elbo.average_over_batch(out.per_example) + out.extra_loss,
      "distortion": distortion,
      "rate": rate,
      "kl_per_dim": kl_per_dim,
      "neg_elbo": neg_elbo,
      "bits_per_dim": elbo.bits_per_dim(neg_elbo, num_features),
      "kl_weight": out.kl_weight,
      "beta_eff": out.beta_eff,
      "beta_norm": elbo.beta_to_beta_norm(out.beta_eff, num_features,
                                          latent_dim),
      "z_mean": z_mean,
      "z_log_variance": z_log_variance,
      "updates": list(out.updates),
      "terms": terms,
  }
  result.update(out.scalars)
  return result
