"""The general VAE: every weighting choice of the question is a switch.

    loss = mean_i [ rec_i + w kl_i ]      rec_i = D_i / K_r,  kl_i = R_i / J_r

with the reductions (`sum`/`mean`), the likelihood (`tfvae.likelihoods`), the
KL estimator (analytic or Monte Carlo), free bits (Kingma et al. 2016) and a
balancer that sets the weight: a constant or scheduled `w` (schedules are Keras
callbacks assigning `kl_weight`), capacity (Burgess et al. 2018), GECO
(Rezende & Viola 2018) or ControlVAE (Shao et al. 2020). The math is in
`tfvae.objectives` and `tfvae.balancing`; this class wires it and keeps the
controller state in non-trainable variables, so checkpoints save and restore it.

Whatever the switches, `compute_terms` reports the unweighted, unclamped
distortion and rate in nats and the effective beta in ELBO units.
"""

import dataclasses

import tensorflow as tf

from tfvae.balancing import controllers
from tfvae.balancing import free_bits as free_bits_lib
from tfvae.balancing import schedules
from tfvae.models.base import BaseVAE
from tfvae.objectives import balanced
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib

BALANCER_SCALARS = {
    "none": (),
    "capacity": ("capacity",),
    "geco": ("geco_lambda", "geco_constraint_ma", "geco_constraint"),
    "controlvae": ("controlvae_beta", "controlvae_integral", "controlvae_p"),
}


@dataclasses.dataclass(frozen=True)
class ObjectiveSpec:
  """The weighting switches of `VAE` (a subset of `tfvae.config.Config`)."""

  rec_reduction: str = "sum"
  kl_reduction: str = "sum"
  kl_estimator: str = "analytic"
  free_bits: float = 0.0
  free_bits_mode: str = "batch"
  balancer: str = "none"
  capacity_gamma: float = 1000.0
  capacity_max: float = 25.0
  capacity_steps: int = 100000
  geco_target: float = 0.0
  geco_target_units: str = "per_pixel"
  geco_alpha: float = 0.99
  geco_rate: float = 1e-2
  geco_lambda_init: float = 1.0
  control_kl_target: float = 0.0
  control_kp: float = 0.01
  control_ki: float = 0.0001
  control_beta_min: float = 0.0
  control_beta_max: float = 1.0

  @classmethod
  def from_config(cls, config):
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls)}
    for name in ("geco_target", "control_kl_target"):
      if values[name] is None:
        values[name] = 0.0
    return cls(**values)


class VAE(BaseVAE):
  """The general, switchable VAE."""

  def __init__(self, encoder, decoder, likelihood, image_shape, latent_dim,
               objective=ObjectiveSpec(), kl_weight=1.0, **kwargs):
    super().__init__(encoder, decoder, image_shape, latent_dim,
                     extra_scalars=self._extra_scalars(likelihood, objective),
                     **kwargs)
    self.likelihood = likelihood
    self.objective = objective
    self.kl_weight.assign(kl_weight)
    k_r = self.num_features if objective.rec_reduction == "mean" else 1
    j_r = self.latent_dim if objective.kl_reduction == "mean" else 1
    self.rec_divisor = float(k_r)
    self.kl_divisor = float(j_r)
    self._init_balancer_state()

  @staticmethod
  def _extra_scalars(likelihood, objective):
    extra = BALANCER_SCALARS[objective.balancer]
    if getattr(likelihood, "sigma_mode", None) is not None:
      extra = extra + ("sigma",)
    return extra

  def _state(self, name, value):
    return self.add_weight(shape=(), initializer="zeros", trainable=False,
                           name=name, aggregation="only_first_replica")

  def _init_balancer_state(self):
    spec = self.objective
    if spec.balancer == "geco":
      self.geco_lambda = self._state("geco_lambda", spec.geco_lambda_init)
      self.geco_lambda.assign(spec.geco_lambda_init)
      self.geco_constraint_ma = self._state("geco_constraint_ma", 0.0)
      self.geco_initialized = self._state("geco_initialized", 0.0)
    elif spec.balancer == "controlvae":
      self.controlvae_integral = self._state("controlvae_integral", 0.0)
      self.controlvae_beta = self._state("controlvae_beta", 0.0)
      self.controlvae_beta.assign(spec.control_beta_min)
      self.controlvae_unclipped_beta = self._state("controlvae_unclipped", 0.0)
      self.controlvae_unclipped_beta.assign(spec.control_beta_min)

  # ------------------------------------------------------------ the model

  def decode_mean(self, z):
    return self.likelihood.mean(self.decode_params(z))

  def decode_distribution_params(self, z):
    """For serving: the decoder distribution's mean and its parameters."""
    params = self.decode_params(z)
    out = {"mean": self.likelihood.mean(params), "params": params}
    sigma = getattr(self.likelihood, "sigma_mode", None)
    if sigma is not None:
      loc, log_sigma = self.likelihood._loc_and_scale(params)  # pylint: disable=protected-access
      out["scale"] = tf.broadcast_to(tf.exp(log_sigma), tf.shape(loc))
    return out

  def log_likelihood(self, x, z):
    """log p(x|z) per example (nats)."""
    x = tf.cast(x, tf.float32)
    return -elbo.reduce_features(self.likelihood.nll(x, self.decode_params(z)),
                                 "sum")

  def compute_terms(self, x, training=False):
    spec = self.objective
    x = tf.cast(x, tf.float32)
    z_mean, z_log_variance = self.encode(x, training=training)
    z = self.sample_posterior(z_mean, z_log_variance, training)
    params = self.decode_params(z, training=training)
    nll = self.likelihood.nll(x, params)
    if spec.kl_estimator == "analytic":
      kl_per_dim = kl_lib.gaussian_kl(z_mean, z_log_variance)
    else:
      kl_per_dim = kl_lib.monte_carlo_kl(z, z_mean, z_log_variance)
    terms = elbo.elbo_terms(nll, kl_per_dim)
    rec = elbo.reduce_features(nll, spec.rec_reduction)
    kl = elbo.reduce_features(kl_per_dim, spec.kl_reduction)

    # Free bits replace the KL term of the objective (never the logged rate).
    kl_extra = 0.0
    if spec.free_bits > 0:
      kl_to_clamp = kl_per_dim
      if spec.free_bits_mode == "batch":
        # Clamp the *global* batch's mean KL per dimension (the same on every
        # replica; the mean of one row is itself).
        kl_to_clamp = elbo.global_batch_mean(kl_per_dim, axis=0)[None, :]
      clamped = free_bits_lib.free_bits_kl(kl_to_clamp, spec.free_bits,
                                           spec.free_bits_mode)
      # A local-batch scalar: divide by the replicas so the summed gradients
      # are the mean over replicas, as for the per-example terms.
      kl_extra = clamped / self.kl_divisor / elbo.num_replicas()
      kl = tf.zeros_like(kl)

    out = {"updates": []}
    weight = tf.identity(self.kl_weight)
    if spec.balancer == "none":
      per_example, kl_coef, nll_coef = balanced.weighted_loss(
          rec, kl, weight, self.rec_divisor, self.kl_divisor)
      loss = elbo.average_over_batch(per_example) + weight * kl_extra
    elif spec.balancer == "capacity":
      capacity = schedules.capacity(self.optimizer.iterations,
                                    spec.capacity_max, spec.capacity_steps)
      batch_rate = elbo.global_batch_mean(terms["rate"])
      per_example, kl_coef, nll_coef = balanced.capacity_loss(
          rec, terms["rate"], batch_rate, capacity, spec.capacity_gamma,
          self.rec_divisor)
      loss = elbo.average_over_batch(per_example)
      weight = spec.capacity_gamma * tf.sign(batch_rate - capacity)
      out["capacity"] = capacity
    elif spec.balancer == "geco":
      divisor = self.num_features if spec.geco_target_units == "per_pixel" else 1
      constraint = terms["distortion"] / divisor - spec.geco_target
      constraint_batch = elbo.global_batch_mean(constraint)
      _, new_ma, new_lambda = controllers.geco_update(
          constraint_batch, self.geco_constraint_ma, self.geco_lambda,
          self.geco_initialized > 0, spec.geco_alpha, spec.geco_rate)
      correction = tf.stop_gradient(new_ma - constraint_batch)
      per_example, kl_coef, nll_coef = balanced.geco_loss(
          kl, constraint, correction, self.geco_lambda, self.kl_divisor,
          float(divisor))
      loss = elbo.average_over_batch(per_example) + kl_extra
      weight = 1.0 / self.geco_lambda
      out["geco_lambda"] = tf.identity(self.geco_lambda)
      out["geco_constraint_ma"] = new_ma
      out["geco_constraint"] = constraint_batch
      out["updates"] = [(self.geco_constraint_ma, new_ma),
                        (self.geco_lambda, new_lambda),
                        (self.geco_initialized, 1.0)]
    elif spec.balancer == "controlvae":
      batch_rate = elbo.global_batch_mean(terms["rate"])
      beta, new_integral, unclipped = controllers.controlvae_update(
          batch_rate, spec.control_kl_target, self.controlvae_integral,
          self.controlvae_unclipped_beta, kp=spec.control_kp,
          ki=spec.control_ki, beta_min=spec.control_beta_min,
          beta_max=spec.control_beta_max)
      beta = tf.stop_gradient(beta)
      per_example, kl_coef, nll_coef = balanced.weighted_loss(
          rec, kl, beta, self.rec_divisor, self.kl_divisor)
      loss = elbo.average_over_batch(per_example) + beta * kl_extra
      weight = beta
      out["controlvae_beta"] = beta
      out["controlvae_integral"] = new_integral
      out["controlvae_p"] = unclipped - new_integral - spec.control_beta_min
      out["updates"] = [(self.controlvae_integral, new_integral),
                        (self.controlvae_beta, beta),
                        (self.controlvae_unclipped_beta, unclipped)]
    else:
      raise ValueError(f"unknown balancer {spec.balancer!r}")

    beta_eff = elbo.effective_beta(kl_coef, nll_coef)
    out.update({
        "loss": loss,
        "distortion": terms["distortion"],
        "rate": terms["rate"],
        "kl_per_dim": kl_per_dim,
        "kl_weight": weight,
        "beta_eff": beta_eff,
        "beta_norm": elbo.beta_to_beta_norm(beta_eff, self.num_features,
                                            self.latent_dim),
        "z_mean": z_mean,
        "z_log_variance": z_log_variance,
    })
    sigma = self.likelihood.sigma_tensor(params, x)
    if sigma is not None:
      out["sigma"] = sigma
      if getattr(self.likelihood, "sigma_mode", None) == "optimal" and training:
        out["updates"] = list(out["updates"]) + [
            (self.likelihood.last_log_sigma, tf.math.log(sigma))]
    return out
