"""Builds the model a `Config` describes."""

from tfvae import likelihoods
from tfvae import networks
from tfvae.models.reference import ReferenceVAE
from tfvae.models.vae import VAE
from tfvae.models.vae import ObjectiveSpec


def build_model(config, image_shape):
  """Returns an uncompiled `ReferenceVAE` or `VAE` for images of this shape."""
  image_shape = tuple(int(d) for d in image_shape)
  channels = image_shape[-1]
  encoder = networks.build_encoder(image_shape, config.latent_dim,
                                   config.architecture, config.hidden_units)
  if config.model == "reference":
    decoder = networks.build_decoder(image_shape, config.latent_dim, channels,
                                     config.architecture, config.hidden_units)
    return ReferenceVAE(encoder, decoder, image_shape, config.latent_dim,
                        rec=config.reference_rec, seed=config.seed,
                        name="reference_vae")
  likelihood = likelihoods.make_likelihood(config.likelihood, config.sigma,
                                           channels)
  decoder = networks.build_decoder(image_shape, config.latent_dim,
                                   likelihood.params_channels(channels),
                                   config.architecture, config.hidden_units)
  num_features = 1
  for d in image_shape:
    num_features *= d
  return VAE(encoder, decoder, likelihood, image_shape, config.latent_dim,
             objective=ObjectiveSpec.from_config(config),
             kl_weight=config.resolved_kl_weight(num_features),
             seed=config.seed, name="vae")
