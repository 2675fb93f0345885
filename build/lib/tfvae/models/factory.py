"""Builds the model an `ExperimentConfig` describes."""

import types

from tfvae import likelihoods
from tfvae import networks
from tfvae.models.reference import ReferenceVAE
from tfvae.models.vae import VAE
from tfvae.models.vae import ObjectiveSpec


def build_model(config, image_shape):
  """Returns an uncompiled `ReferenceVAE` or `VAE` for images of this shape."""
  image_shape = tuple(int(d) for d in image_shape)
  channels = image_shape[-1]
  model = config.model
  encoder = networks.build_encoder(image_shape, model.latent_dim,
                                   model.architecture, model.hidden_units)
  if model.model == "reference":
    decoder = networks.build_decoder(image_shape, model.latent_dim, channels,
                                     model.architecture, model.hidden_units)
    return ReferenceVAE(encoder, decoder, image_shape, model.latent_dim,
                        rec=model.reference_rec, seed=config.training.seed,
                        name="reference_vae")
  likelihood = likelihoods.make_likelihood(model.likelihood, model.sigma,
                                           channels)
  decoder = networks.build_decoder(image_shape, model.latent_dim,
                                   likelihood.params_channels(channels),
                                   model.architecture, model.hidden_units)
  num_features = 1
  for d in image_shape:
    num_features *= d
  flat = types.SimpleNamespace(**config.to_flat())
  return VAE(encoder, decoder, likelihood, image_shape, model.latent_dim,
             objective=ObjectiveSpec.from_config(flat),
             kl_weight=config.resolved_kl_weight(num_features),
             seed=config.training.seed, name="vae")
