"""Builds the model and the balancer that a run's config describes.

This is where the command line's names become objects: the model never
branches over method names, the factory maps them once.
"""

from tfvae import balancing
from tfvae import likelihoods
from tfvae import networks
from tfvae.balancing import kl_parts
from tfvae.models.reference import ReferenceVAE
from tfvae.models.vae import VAE
from tfvae.objectives.weighting import Weighting


def build_balancer(config, total_steps=None, dataset_size=None):
  """The `Balancer` for the config's balancer and KL schedule settings.

  Args:
    config: the balancer settings (`balancer`, `kl_schedule`, `kl_*`,
      `free_bits*`, `capacity_*`, `geco_*`, `control_*`).
    total_steps: the run's length, the cyclical schedule's default period.
    dataset_size: the training set's size N (beta-TCVAE's estimator).
  """
  name = config.balancer
  if name in kl_parts.BALANCERS:
    balancer = balancing.get(name, **kl_parts.balancer_kwargs(config,
                                                              dataset_size))
  elif name == "capacity":
    balancer = balancing.Capacity(config.capacity_gamma, config.capacity_max,
                                  config.capacity_steps)
  elif name == "geco":
    balancer = balancing.GECO(config.geco_target, config.geco_target_units,
                              config.geco_alpha, config.geco_rate,
                              config.geco_lambda_init)
  elif name == "controlvae":
    balancer = balancing.ControlVAE(
        config.control_kl_target, config.control_kp, config.control_ki,
        config.control_beta_min, config.control_beta_max)
  else:
    balancer = _kl_weight(config, total_steps)
  if config.free_bits > 0:
    balancer = balancing.FreeBits(config.free_bits, config.free_bits_mode,
                                  inner=balancer)
  return balancer


def _kl_weight(config, total_steps):
  common = {"start": config.kl_start, "stop": config.kl_stop}
  if config.kl_schedule == "linear":
    return balancing.Linear(config.kl_warmup_steps, **common)
  if config.kl_schedule == "sigmoid":
    return balancing.Sigmoid(config.kl_warmup_steps, k=config.kl_sigmoid_k,
                             x0=config.kl_sigmoid_x0, **common)
  if config.kl_schedule == "cyclical":
    period = config.kl_warmup_steps or total_steps
    return balancing.Cyclical(period, n_cycles=config.kl_cycles,
                              ratio=config.kl_cycle_ratio,
                              shape=config.kl_cycle_shape, **common)
  return balancing.KLWeight()


def build_model(config, event_shape, total_steps=None, data_in_unit_interval=True,
                dataset_size=None):
  """Returns an uncompiled, built `ReferenceVAE` or `VAE` for events of this shape."""
  event_shape = tuple(int(d) for d in event_shape)
  encoder = networks.build_encoder(event_shape, config.latent_dim,
                                   config.architecture, config.hidden_units)
  if config.model == "reference":
    decoder = networks.build_decoder(event_shape, config.latent_dim, 1,
                                     config.architecture, config.hidden_units)
    model = ReferenceVAE(encoder, decoder, rec=config.reference_rec,
                         seed=config.seed, name="reference_vae")
  else:
    mean = getattr(config, "gaussian_mean", "auto")
    if mean == "auto":
      mean = "sigmoid" if data_in_unit_interval else "identity"
    likelihood = likelihoods.make_likelihood(
        config.likelihood, config.sigma, channels=event_shape[-1], mean=mean)
    decoder = networks.build_decoder(event_shape, config.latent_dim,
                                     likelihood.params_per_feature,
                                     config.architecture, config.hidden_units)
    model = VAE(encoder, decoder, likelihood,
                weighting=Weighting(config.rec_reduction, config.kl_reduction,
                                    config.beta, config.beta_norm),
                balancer=build_balancer(config, total_steps, dataset_size),
                kl_estimator=config.kl_estimator, seed=config.seed, name="vae")
  model.build((None,) + event_shape)
  return model
