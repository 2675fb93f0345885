"""The likelihood protocol and its registry: one module owns one family.

The decoder emits an unconstrained tensor `params` of shape
`[batch] + likelihood.params_shape(event_shape)`; the likelihood turns it into
a distribution over the event and reports `nll = -log p(x|z)` per feature in
nats, which the objective reduces. The event may have any shape: images
[H, W, C], sequences [T] of token ids ([T, V] logits), vectors [D], table rows
[D]. Data always reach the likelihood as float32 (integer ids and codes are
exact in float32); a family that needs integers casts them itself.

A family is one module of this package that declares, in one class:

- its registry name (`@register("name")`), which is its `--likelihood=` value;
- its typed settings (`Settings`, a dataclass of `tfvae.settings.option`
  fields): the command line's flags, their help and the ignored-flag rules
  are generated from it, and `from_settings` builds the family from them;
- its data support (`support`, a word shown to users) and `check_data`, the
  check of a data set against it, with the likely fix in the message;
- its parameter layout (`params_shape`; it may add a last axis, e.g. [T]
  tokens -> [T, V] logits) and its network input (`input_layer`, for
  tfvae's built-in networks: a one-hot for ids);
- its density (`distribution`, `nll`), reconstruction (`mean`), draws
  (`sample`), the number of real features per example (`feature_count`,
  padding excluded) and logged scalars (`summaries`);
- its export description (`describe`) and the serving-side reader
  (`from_description`), and Keras' `get_config`;
- its entry in the weighting translator (`translator_entry`: what the KL
  weight means for it).

Nothing outside the family's module branches on its name: the config, the
data checks, the export, the serving reader and the translator ask the
registry (`lookup`, `names`, `from_settings`, `from_description`).

A user's own family is a subclass registered the same way:

    @tfvae.likelihoods.register("poisson")
    class Poisson(tfvae.likelihoods.Likelihood):
      support = "counts"
      def distribution(self, params, x=None):
        return tfd.Poisson(log_rate=params)
      def check_data(self, x, argument="x"):
        ...

This package is the only place where log p(x|z) is written; the model, the
evaluation and the export all call these classes.
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type

import keras
import numpy as np
import tensorflow as tf

from tfvae import settings as settings_lib
from tfvae.errors import ConfigError
from tfvae.errors import DataError
from tfvae.objectives import elbo

# Words for the data a built-in family models (`Likelihood.support`).
SUPPORTS = ("binary", "unit", "real", "open_unit", "levels", "classes",
            "table")


@dataclasses.dataclass
class NoSettings:
  """A family without command-line settings."""


class Likelihood(keras.layers.Layer):
  """Base class: maps decoder params to a distribution over the event.

  Subclasses implement `distribution(params, x=None)`; `x` is only used by
  likelihoods whose parameters depend on the data (the optimal sigma).
  """

  # The registry name, set by `register` (`--likelihood=`, exports).
  likelihood_name = ""
  # The data the family models, in a word (see SUPPORTS).
  support = "unit"
  # Decoder outputs per event feature (2 when it also predicts a scale).
  params_per_feature = 1
  # The family's command-line settings (field names are flag names).
  Settings: type = NoSettings
  # Keys of `describe()` that `from_description` needs besides the name.
  description_keys: Tuple[str, ...] = ()

  # ----------------------------------------------------------- building

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None
                    ) -> "Likelihood":
    """The family from its command-line settings (an object with the
    `Settings` fields as attributes). `data` is a `tfvae.data` data set
    (or None) for settings that default to what the data say."""
    del settings, event_shape, data
    return cls()

  @classmethod
  def check_settings(cls, settings) -> None:
    """Raises ConfigError naming the field when a setting is invalid (the
    choices declared with `option` are checked here)."""
    settings_lib.check_choices(cls.Settings, settings)

  @classmethod
  def from_description(cls, description: dict) -> "Likelihood":
    """The family from the `describe()` stored with an export."""
    kwargs = {k: description[k] for k in cls.description_keys
              if k in description}
    return cls(**kwargs)

  def describe(self) -> dict:
    """Metadata stored with exports (name and settings)."""
    return {"likelihood": self.likelihood_name,
            **{k: v for k, v in self.get_config().items()
               if k in self.description_keys}}

  def get_config(self):
    config = super().get_config()
    config.pop("trainable", None)
    config.pop("dtype", None)
    return config

  # ------------------------------------------------------------- shapes

  def params_shape(self, event_shape: Sequence[int]) -> Tuple[int, ...]:
    """The decoder's output shape per example for events of `event_shape`."""
    shape = tuple(int(d) for d in event_shape)
    if self.params_per_feature == 1:
      return shape
    return shape[:-1] + (shape[-1] * self.params_per_feature,)

  def params_channels(self, channels: int) -> int:
    """Decoder channels for `channels` event channels (image networks)."""
    return self.params_per_feature * int(channels)

  def build_for(self, event_shape: Sequence[int]) -> None:
    """Creates the variables that depend on the event shape (if any)."""
    del event_shape

  def input_layer(self) -> Optional[keras.layers.Layer]:
    """A layer from data to the inputs of tfvae's built-in encoders (e.g. a
    one-hot of ids), or None for the data as they are."""
    return None

  # ---------------------------------------------------------------- data

  def check_data(self, x: np.ndarray, argument: str = "x") -> List[str]:
    """Raises DataError naming `argument` when `x` (float values as the model
    sees them, [N] + event shape) leaves the family's support; returns
    warnings (strings) for data the family models poorly."""
    del x, argument
    return []

  # ------------------------------------------------------------ density

  def distribution(self, params, x=None):
    """The elementwise `tfd.Distribution` for decoder output `params`."""
    raise NotImplementedError

  def nll(self, x, params):
    """-log p(x | params) per feature of the event, nats, float32; features
    that are not data (padding) are 0."""
    return -self.distribution(params, x).log_prob(x)

  def log_likelihood(self, x, params):
    """log p(x | params) per example (summed over the event), nats."""
    return -elbo.reduce_features(self.nll(x, params), "sum")

  def feature_count(self, x):
    """[B] float32, the real features of each example (K; padding excluded):
    the count behind per-feature and per-token numbers."""
    count = tf.reduce_prod(tf.shape(x)[1:])
    return tf.fill([tf.shape(x)[0]], tf.cast(count, tf.float32))

  def mean(self, params, x=None):
    """The reconstruction shown to users: the distribution's mean."""
    return self.distribution(params, x).mean()

  def sample(self, params, seed=None):
    """One draw of x ~ p(x | params), float32 in the data's form."""
    return tf.cast(self.distribution(params).sample(seed=seed), tf.float32)

  def sigma_tensor(self, params, x=None) -> Optional[tf.Tensor]:
    """The (mean) sigma of this batch for logging, or None without a sigma."""
    del params, x
    return None

  # True when one sigma (fixed, learned or fitted) scales every feature: the
  # KL weight then also has squared-error units (beta_eff 2 sigma^2).
  shares_one_sigma = False

  # Scalars the family logs every step besides the core ones.
  scalar_names: Tuple[str, ...] = ()

  def summaries(self, params, x) -> Dict[str, tf.Tensor]:
    """{name: scalar} of `scalar_names` for this batch (global-batch means)."""
    del params, x
    return {}

  # ------------------------------------------------------------- serving

  def serving_outputs(self, params):
    """What an export's `decode` returns for decoder output `params`: the
    mean of p(x|z) and the parameters (and what else a reader needs)."""
    return {"mean": self.mean(params), "params": params}

  def serving_log_likelihood(self, x, decoded):
    """log p(x|z) per example from `serving_outputs` (the serving reader:
    an export's `decode` outputs, without the model)."""
    return self.log_likelihood(x, decoded["params"])

  def served_log_likelihood(self, x, params):
    """log p(x|z) per example as an export serves it: from the decoder's
    output alone (a data-dependent scale uses its stored value)."""
    return self.log_likelihood(x, params)

  # ---------------------------------------------------------- translator

  @classmethod
  def weighting_label(cls, settings: dict):
    """A sweep label when the family's settings set the KL weight themselves
    (a learned sigma), else None; `settings` is a run's flat config."""
    del settings
    return None

  @classmethod
  def translator_entry(cls) -> dict:
    """What the KL weight means for this family, for the weighting
    translator: {"reconstruction": the summed reconstruction term it equals,
    "weight": what a KL weight of 1 on the summed terms is}."""
    return {"reconstruction": f"-log p(x|z) of {cls.__name__}, summed",
            "weight": "beta_eff: the weight on the summed KL per nat of "
                      "summed NLL (1 = the ELBO)"}


# ---------------------------------------------------------------- registry

_REGISTRY: Dict[str, Type[Likelihood]] = {}


def register(name: str) -> Callable[[Type[Likelihood]], Type[Likelihood]]:
  """Class decorator: makes a family available as `--likelihood=name`, to
  `get`, to exports' readers and to Keras serialisation."""

  def wrap(cls):
    if not (isinstance(cls, type) and issubclass(cls, Likelihood)):
      raise TypeError(f"register({name!r}) needs a Likelihood subclass, got "
                      f"{cls!r}")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
      raise ValueError(f"likelihood name {name!r} is registered twice")
    cls.likelihood_name = name
    _REGISTRY[name] = cls
    return keras.saving.register_keras_serializable(
        package="tfvae.likelihoods", name=cls.__name__)(cls)

  return wrap


def names() -> Tuple[str, ...]:
  return tuple(sorted(_REGISTRY))


def lookup(name: str) -> Type[Likelihood]:
  """The family registered as `name`."""
  if name not in _REGISTRY:
    raise ConfigError(f"likelihood={name!r} is not one of "
                      f"{', '.join(names())}", params=("likelihood",))
  return _REGISTRY[name]


def get(name: str, **kwargs) -> Likelihood:
  """Builds the family registered as `name` with keyword arguments."""
  return lookup(name)(**kwargs)


def from_description(description: dict) -> Likelihood:
  """The likelihood an export's metadata describes."""
  return lookup(description["likelihood"]).from_description(description)


def settings_fields() -> Dict[str, Tuple[dataclasses.Field, Tuple[str, ...]]]:
  """{field name: (its dataclass field, the families that read it)} over
  every registered family's `Settings` (a name shared by two families is
  one setting)."""
  fields = {}
  for name in names():
    for field in dataclasses.fields(_REGISTRY[name].Settings):
      previous, users = fields.get(field.name, (field, ()))
      fields[field.name] = (previous, users + (name,))
  return fields


def data_error(argument, message):
  """The DataError of a check: names the argument (`x`, `validation_data`,
  or the command line's `dataset`)."""
  return DataError(f"{argument}: {message}", params=(argument,))

