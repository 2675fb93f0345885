"""Builds the model and the balancer that an `ExperimentConfig` describes.

This is where the command line's names become objects, once: each balancer
class reads its own settings (`Balancer.from_config_section`), so neither the
factory nor the model branches over method names.
"""

import types

from tfvae import balancing
from tfvae import likelihoods
from tfvae import networks
from tfvae.errors import ConfigError
from tfvae.errors import DataError
from tfvae.models.reference import ReferenceVAE
from tfvae.models.vae import VAE


def build_balancer(config, total_steps=None, dataset_size=None):
  """The `Balancer` of the config's balancer section.

  `balancer=none` means the KL weight of `kl_schedule` (constant, linear,
  sigmoid, cyclical); free bits wrap whichever balancer that gives.

  Args:
    config: the `ExperimentConfig`.
    total_steps: the run's length (the cyclical schedule's default period).
    dataset_size: the training set's size N (beta-TCVAE's estimator).
  """
  section = config.balancer
  name = section.balancer if section.balancer != "none" else \
      section.kl_schedule
  context = balancing.BuildContext(
      total_steps=total_steps, dataset_size=dataset_size,
      latent_dim=config.model.latent_dim, seed=config.training.seed)
  balancer = balancing.lookup(name).from_config_section(section, context)
  if section.free_bits > 0:
    balancer = balancing.FreeBits(section.free_bits, section.free_bits_mode,
                                  inner=balancer)
  return balancer


def build_model_for_run(config, spec):
  """The model of a finished or running run, from its config and data.json.

  The data spec fixes what the config leaves to the data: the event shape,
  the Gaussian mean of `gaussian_mean=auto` (the data's range) and the
  training set's size (beta-TCVAE; the run's length for a cyclical schedule).
  """
  num_train = spec.get("num_train")
  total_steps = None
  if num_train is not None:
    total_steps = config.training.total_steps(num_train)
  return build_model(config, spec["image_shape"], total_steps,
                     dataset_size=num_train,
                     data=types.SimpleNamespace(**spec))


def build_likelihood(config, event_shape, data=None):
  """The likelihood family of the config, built from its settings; `data`
  (a data set, or a run's data spec as attributes) fixes what the settings
  leave to the data (the Gaussian's mean=auto, a vocabulary's size)."""
  family = likelihoods.lookup(config.model.likelihood)
  return family.from_settings(config.model, tuple(event_shape), data)


def build_model(config, event_shape, total_steps=None,
                data_in_unit_interval=True, dataset_size=None, data=None):
  """Returns an uncompiled, built `ReferenceVAE` or `VAE` for events of this
  shape. `data` is the data set (or its spec); without it
  `data_in_unit_interval` stands for it (it resolves `gaussian_mean=auto`)."""
  event_shape = tuple(int(d) for d in event_shape)
  model = config.model
  seed = config.training.seed
  if data is None:
    data = types.SimpleNamespace(
        support="unit" if data_in_unit_interval else "real")
  likelihood = None if model.model == "reference" else build_likelihood(
      config, event_shape, data)
  if model.model == "sequence":
    return build_sequence_model(config, event_shape, likelihood, total_steps,
                                dataset_size, data)
  encoder = networks.build_encoder(
      event_shape, model.latent_dim, model.architecture, model.hidden_units,
      input_layer=likelihood.input_layer() if likelihood else None)
  if model.model == "reference":
    decoder = networks.build_decoder(event_shape, model.latent_dim, 1,
                                     model.architecture, model.hidden_units)
    vae = ReferenceVAE(encoder, decoder, rec=model.reference_rec, seed=seed,
                       name="reference_vae")
  else:
    decoder = networks.build_decoder(
        event_shape, model.latent_dim, architecture=model.architecture,
        hidden_units=model.hidden_units,
        params_shape=likelihood.params_shape(event_shape))
    vae = VAE(encoder, decoder, likelihood, weighting=config.objective.weighting(),
              balancer=build_balancer(config, total_steps, dataset_size),
              kl_estimator=model.kl_estimator, seed=seed, name="vae")
  vae.build((None,) + event_shape)
  return vae


def build_sequence_model(config, event_shape, likelihood, total_steps=None,
                         dataset_size=None, data=None):
  """The built `SequenceVAE` of `model=sequence`: the GRU pair of
  `tfvae.models.sequence` over the likelihood's V classes, its padding id
  the likelihood's `mask_value` (the data's pad id by default)."""
  # pylint: disable-next=import-outside-toplevel
  from tfvae.models import sequence
  if len(event_shape) != 1:
    raise DataError(f"dataset: model=sequence needs token ids of shape "
                    f"[N, T], got examples of shape {list(event_shape)}",
                    params=("dataset",))
  model = config.model
  vocab_size = likelihood.num_classes
  pad_id = (sequence.PAD_ID if likelihood.mask_value is None
            else likelihood.mask_value)
  size = dict(vocab_size=vocab_size, latent_dim=model.latent_dim,
              embedding_dim=model.embedding_dim, units=model.hidden_units)
  try:
    vae = sequence.SequenceVAE(
        sequence.gru_encoder(pad_id=pad_id, **size),
        sequence.gru_decoder(**size), vocab_size,
        weighting=config.objective.weighting(),
        balancer=build_balancer(config, total_steps, dataset_size),
        word_dropout=model.word_dropout, pad_id=pad_id,
        kl_estimator=model.kl_estimator, seed=config.training.seed,
        name="sequence_vae")
  except ValueError as e:  # The special ids do not fit the vocabulary.
    raise ConfigError(str(e), params=("num_classes", "mask_value")) from None
  vocab = getattr(data, "vocab", None)
  # The export stores it as assets/vocab.txt.
  vae.vocab_tokens = None if vocab is None else tuple(str(t) for t in vocab)
  vae.build((None,) + tuple(event_shape))
  return vae
