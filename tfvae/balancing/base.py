"""The balancer protocol: how a method turns a batch's true terms into the loss.

A VAE objective has two parts. The *true terms* of a batch are the same for
every method: per example i the distortion D_i = -log p(x_i|z_i) and the rate
R_i = KL(q(z|x_i) || p(z)) in nats, their reduced forms rec_i = D_i / K_r and
kl_i = R_i / J_r (the `Weighting`'s reductions), the KL per latent dimension,
and the posterior sample with its parameters. A *balancer* decides what is
optimised from them: a constant or scheduled weight, capacity, GECO,
ControlVAE, free bits, beta-TCVAE, FactorVAE, DIP-VAE, ...

Each method is one `Balancer` subclass that

- owns its state as non-trainable `tf.Variable`s created in `__init__` (a
  Keras layer, so the model's checkpoints save and restore it),
- returns its loss and its effective beta from `balance(terms, step,
  training)`; state changes are returned as `updates` and applied by the model
  after the optimiser step of a training batch (never during evaluation),
- names the scalars it logs in `scalar_names`,
- registers itself under a name with `@register("name")`.

A method chosen with `--balancer=name` (`selectable`; the KL schedules and
free bits are the general section's own `--kl_schedule` and `--free_bits`)
also declares, in its class, everything the rest of tfvae asks about it:

- its typed settings (`Settings`, a dataclass of `tfvae.settings.option`
  fields; a field shared by two methods is one setting): the config's
  fields, the flags, their help and the ignored-flag rules are generated
  from it, and `from_config_section` builds the method from them;
- their checks (`check_settings`) and its combinations with the rest of a
  run (`check_config`), raising `ConfigError`;
- whether it sets the KL weight itself (`sets_weight`: then no beta or
  schedule beside it) or weights the KL's parts (`weights_kl_parts`: then
  constant weights, no free bits);
- its name in reports (`label`), its paper in the flag's help
  (`citation`), the settings that move its weight in a sweep
  (`weight_settings`) and its entry in the weighting translator
  (`translator_entry`).

Nothing outside the method's module branches on its name: the config, the
sweep report and the translator ask the registry (`selectable`,
`settings_fields`, `lookup`).

The model calls `balancer.balance(...)` and nothing else: it never branches
over method names (disentanglement_lib's one `regularizer` hook per method,
TFP's registries).

Losses are written *per example* where the method allows it: the model takes
`average_over_batch(per_example) + extra_loss`, which has the right value and
gradient also when tf.distribute splits the global batch over replicas
(`extra_loss` is a replica-local scalar already divided by the number of
replicas, for batch-level terms).

Methods with a second network (FactorVAE's discriminator) keep it and its
optimiser as attributes, list its variables in `own_trainable_variables`
(the model leaves them out of the VAE's update) and train it in
`train_own(terms, step)`, which the model calls once per training batch after
the VAE's update.
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple, Type

import keras
import tensorflow as tf

from tfvae import settings as settings_lib
from tfvae.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Terms:
  """The true terms of one (replica-local) batch; tensors in float32.

  Attributes:
    distortion: [B] D_i = -log p(x_i | z_i), nats.
    rate: [B] R_i, the KL of example i summed over latent dimensions, nats
      (analytic or one-sample Monte Carlo, as the model's `kl_estimator`).
    kl_per_dim: [B, J] the KL per example and latent dimension, nats.
    rec: [B] the reduced reconstruction term D_i / K_r.
    kl: [B] the reduced KL term R_i / J_r.
    kl_weight: float, the weight as written on `kl` that the `Weighting`
      states (beta, or beta_norm converted); a Python number.
    z: [B, J] the posterior sample used for `distortion`.
    z_mean, z_log_variance: [B, J] the posterior's parameters.
    num_features: K, the number of features of one example (int).
    latent_dim: J (int).
    rec_divisor: K_r (K for a mean reduction of the reconstruction, else 1).
    kl_divisor: J_r (J for a mean reduction of the KL, else 1).
  """

  distortion: tf.Tensor
  rate: tf.Tensor
  kl_per_dim: tf.Tensor
  rec: tf.Tensor
  kl: tf.Tensor
  kl_weight: float
  z: tf.Tensor
  z_mean: tf.Tensor
  z_log_variance: tf.Tensor
  num_features: int
  latent_dim: int
  rec_divisor: float
  kl_divisor: float

  def replace(self, **changes) -> "Terms":
    return dataclasses.replace(self, **changes)


@dataclasses.dataclass
class Balanced:
  """What a balancer returns for one batch.

  Attributes:
    per_example: [B] loss per example; the objective is
      `average_over_batch(per_example) + extra_loss`.
    kl_weight: scalar, the weight the method puts on the reduced KL term, as
      written (logged as `kl_weight`).
    beta_eff: scalar, the weight on the summed KL per unit of summed NLL (ELBO
      units) at this step.
    extra_loss: replica-local scalar added to the batch average (already
      divided by the number of replicas), or 0.
    scalars: extra logged scalars, {name: scalar tensor}; the names are the
      balancer's `scalar_names`.
    updates: [(variable, new value)] assigned after a training step.
  """

  per_example: tf.Tensor
  kl_weight: tf.Tensor
  beta_eff: tf.Tensor
  extra_loss: tf.Tensor = 0.0
  scalars: Dict[str, tf.Tensor] = dataclasses.field(default_factory=dict)
  updates: List[Tuple[tf.Variable, tf.Tensor]] = dataclasses.field(
      default_factory=list)


@dataclasses.dataclass(frozen=True)
class BuildContext:
  """What a balancer built from a config may need besides its own settings."""

  total_steps: Optional[int] = None  # the run's length
  dataset_size: Optional[int] = None  # the training set's size N
  latent_dim: Optional[int] = None  # J
  seed: int = 0


@dataclasses.dataclass
class NoSettings:
  """A method without command-line settings."""


class Balancer(keras.layers.Layer):
  """Base class of every balancing method (see the module docstring)."""

  # Names of the extra scalars `balance` returns in `Balanced.scalars`.
  scalar_names: Tuple[str, ...] = ()
  # The registry name, set by `register`.
  registry_name: str = ""
  # A `--balancer=` choice (the KL schedules and free bits are not).
  selectable: bool = True
  # The method's command-line settings (field names are flag names).
  Settings: type = NoSettings
  # True when the method sets the KL weight itself (capacity, GECO, ...).
  sets_weight: bool = False
  # True when the method weights the parts of the KL (beta-TCVAE, ...).
  weights_kl_parts: bool = False
  # Its name in reports (default: the registry name) and its paper, shown
  # in --balancer's help ("Burgess et al."; methods in a row with the same
  # paper show it once, after the last).
  label: str = ""
  citation: str = ""
  # Settings whose values move the method's weight (a sweep's curve).
  weight_settings: Tuple[str, ...] = ()

  @classmethod
  def check_settings(cls, section) -> None:
    """Raises ConfigError naming the fields when the method's settings (read
    from `section`, the config's balancer section) are invalid or do not
    combine with the section's general settings; the choices declared with
    `option` are checked here."""
    settings_lib.check_choices(cls.Settings, section)

  @classmethod
  def check_config(cls, config) -> None:
    """Raises ConfigError when the method does not combine with the rest of
    the run (`config`: the whole `ExperimentConfig`)."""
    del config

  @classmethod
  def translator_entry(cls, values: dict) -> dict:
    """How the weighting translator reads a run of this method (`values`:
    the run's flat config): {"weight": "weighting"} for the `Weighting`'s
    beta as written, {"weight": "trained"} for a weight set during training
    (read the finished run); a method with its own regulariser gives the
    number, e.g. capacity's {"weight": gamma, "capacity": (C_max, T),
    "kl_reduction": "sum", "notes": (...)}."""
    del values
    return {"weight": "trained" if cls.sets_weight else "weighting"}

  @classmethod
  def from_config_section(cls, section, context: BuildContext) -> "Balancer":
    """Builds the method from a `BalancerConfig` (the command line's settings).

    Each method reads its own fields here, so the factory that maps a
    config to a balancer needs no branch per method.
    """
    raise NotImplementedError(f"{cls.__name__} has no config settings")

  def balance(self, terms: Terms, step: tf.Tensor, training: bool) -> Balanced:
    """The method's loss for a batch.

    Args:
      terms: the batch's true terms.
      step: int64 scalar, the optimiser steps done before this batch (0 for
        the first batch).
      training: True in a training step; controllers then return state
        updates, and evaluation leaves the state unchanged.
    """
    raise NotImplementedError

  @property
  def own_trainable_variables(self) -> List[tf.Variable]:
    """Variables trained by `train_own`, not by the VAE's optimiser."""
    return []

  def train_own(self, terms: Terms, step: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Trains the balancer's own networks on a batch; returns scalars to log."""
    del terms, step
    return {}

  def _state(self, name: str, value: float = 0.0) -> tf.Variable:
    """A non-trainable float32 scalar, saved with the model's checkpoints."""
    variable = self.add_weight(shape=(), initializer="zeros", trainable=False,
                               name=name, aggregation="only_first_replica")
    variable.assign(value)
    return variable

  def get_config(self):
    """The constructor's arguments (subclasses add theirs), for Keras
    serialisation; the state variables are saved as weights."""
    return {"name": self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)


_REGISTRY: Dict[str, Type[Balancer]] = {}


def register(name: str) -> Callable[[Type[Balancer]], Type[Balancer]]:
  """Class decorator: makes the balancer available as `get(name, ...)` and
  to Keras serialisation (a model holding it saves to `.keras`)."""

  def wrap(cls):
    if name in _REGISTRY and _REGISTRY[name] is not cls:
      raise ValueError(f"balancer name {name!r} is registered twice")
    cls.registry_name = name
    _REGISTRY[name] = cls
    return keras.saving.register_keras_serializable(
        package="tfvae.balancing", name=cls.__name__)(cls)

  return wrap


def names() -> Tuple[str, ...]:
  return tuple(sorted(_REGISTRY))


def selectable() -> Tuple[Type[Balancer], ...]:
  """The `--balancer=` choices' classes, in the order they registered."""
  return tuple(cls for name, cls in _REGISTRY.items()
               if cls.selectable and cls.registry_name == name)


def settings_fields() -> Dict[str, Tuple[dataclasses.Field, Tuple[str, ...]]]:
  """{field name: (its dataclass field, the methods that read it)} over
  every selectable method's `Settings` (a name shared by two methods is one
  setting)."""
  fields = {}
  for cls in selectable():
    for field in dataclasses.fields(cls.Settings):
      previous, users = fields.get(field.name, (field, ()))
      fields[field.name] = (previous, users + (cls.registry_name,))
  return fields


def lookup(name: str) -> Type[Balancer]:
  """The balancer class registered as `name`."""
  if name not in _REGISTRY:
    raise ValueError(f"balancer must be one of {', '.join(names())}, got "
                     f"{name!r}")
  return _REGISTRY[name]


def get(name: str, **kwargs) -> Balancer:
  """Builds the balancer registered as `name` with keyword arguments."""
  return lookup(name)(**kwargs)
