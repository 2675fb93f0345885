"""A VAE loss as some library writes it, and the same objective in every unit.

A convention writes the per-example loss as

    loss = c * rec + w * kl            (or  c * rec + w |kl - C(t)|, capacity)

with `rec` a reconstruction term summed (`"sum"`) or averaged (`"mean"`) over
the K = prod(event_shape) features, `kl` the analytic KL summed or averaged
over the J latent dimensions, `w` the weight as written and `c` a constant
factor on the reduced reconstruction term. The reconstruction term is one of

- `"nll"`: the negative log-likelihood of a decoder distribution registered
  in `tfvae.likelihoods` (`bernoulli`, `categorical`, `columns`, ..., or
  `gaussian` with a fixed sigma);
- `"squared_error"`: squared error, which is the NLL of a Gaussian with
  sigma^2 = 1 / (2 c) up to a constant (so `c` picks the implied sigma:
  the question's SSE is sigma^2 = 1/2, pythae's 0.5 SSE is sigma^2 = 1);
- `"bce"`: binary cross-entropy on probabilities, the Bernoulli NLL.

Every convention is then the ELBO with an effective beta
(`tfvae.objectives.weighting`; Alemi et al. 2018, Higgins et al. 2017 App. A.6):

    beta_eff  = (w / c_nll) K_r / J_r     c_nll = c for nll/bce, 1 for squared error
    beta_norm = beta_eff J / K
    beta_l2   = 2 sigma^2 beta_eff        weight per unit of summed squared error

For a Gaussian decoder the objective that is optimised does not depend on
which sigma one says it has: `beta_l2` (with the reductions' constant scale) is
the invariant, and beta_eff is stated in the convention's own sigma. Two
Gaussian conventions are the same objective when their `beta_l2` agree; two
Bernoulli ones when their `beta_eff` agree. A squared-error objective and a
cross-entropy one are never the same objective.

This module is plain Python: it only converts numbers. Checking a
likelihood's name reads the registry of `tfvae.likelihoods` (which loads
TensorFlow) the first time a convention names one that is not built in.
"""

import dataclasses
import math
from typing import Optional, Tuple, Union

from tfvae.errors import ConfigError
from tfvae.objectives import weighting

RECONSTRUCTIONS = ("nll", "squared_error", "bce")
# Names known without reading the registry (the translator stays light).
BUILT_IN_LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")
REDUCTIONS = weighting.REDUCTIONS
# tfvae's --sigma modes whose value is only known after training.
SIGMA_MODES = ("learned", "learned_channel", "learned_pixel", "optimal")


@dataclasses.dataclass(frozen=True)
class Capacity:
  """Burgess et al. (2018) capacity: the weight multiplies |KL_sum - C(t)|.

  C(t) = min(c_max, c_max t / steps) nats (summed KL).
  """

  c_max: float
  steps: int

  def __post_init__(self):
    if not (isinstance(self.c_max, (int, float)) and math.isfinite(self.c_max)
            and self.c_max >= 0):
      raise ConfigError(f"c_max must be >= 0 and finite, got {self.c_max!r}")
    if isinstance(self.steps, bool) or not isinstance(self.steps, int) or \
        self.steps < 1:
      raise ConfigError(f"capacity steps must be an integer >= 1, got "
                        f"{self.steps!r}")


def _positive_number(name, value, allow_zero=False):
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ConfigError(f"{name} must be a number, got {value!r}")
  ok = value >= 0 if allow_zero else value > 0
  if not (math.isfinite(value) and ok):
    bound = ">= 0" if allow_zero else "> 0"
    raise ConfigError(f"{name} must be {bound} and finite, got {value!r}")


def _event_shape(value):
  try:
    shape = tuple(value)
  except TypeError:
    raise ConfigError(f"event_shape must be a sequence of sizes, got "
                      f"{value!r}") from None
  if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                      for d in shape):
    raise ConfigError(f"event_shape must be one or more integers >= 1, got "
                      f"{value!r}")
  return shape


@dataclasses.dataclass(frozen=True)
class Convention:
  """How one library writes the loss; converts to every unit.

  Attributes:
    reconstruction: "nll", "squared_error" or "bce" (see the module docstring).
    event_shape: the shape of one example (K is its product).
    latent_dim: J.
    weight: the KL weight as written (beta, or gamma for a capacity).
    rec_reduction, kl_reduction: "sum" or "mean" over features / latents.
    likelihood: for "nll", the decoder distribution.
    sigma: for a Gaussian NLL, its fixed sigma (a number), or one of
      SIGMA_MODES when it is fitted during training (unknown beforehand).
    factor: the constant multiplying the reduced reconstruction term.
    likelihood_settings: (flag, value) pairs of the likelihood family's own
      settings that the tfvae flags must carry (e.g. ("columns", "...")).
    capacity: a `Capacity` when the weight multiplies |KL - C(t)|.
    model: tfvae's `--model` for the same objective ("sequence" for a
      decoder that reads the previous tokens).
    schedule: (flag, value) pairs of tfvae's KL schedule when the peer
      anneals the weight (`weight` is then the weight the schedule reaches).
    name: the peer ("pythae", "question", ...); label: one line describing
      the variant; formula: the loss as the peer writes it; weight_name: the
      name of the weight in the peer's code or config.
    notes: caveats shown with the conversion.
  """

  reconstruction: str
  event_shape: Tuple[int, ...]
  latent_dim: int
  weight: float = 1.0
  rec_reduction: str = "sum"
  kl_reduction: str = "sum"
  likelihood: Optional[str] = None
  sigma: Union[float, str, None] = None
  factor: float = 1.0
  capacity: Optional[Capacity] = None
  likelihood_settings: Tuple[Tuple[str, str], ...] = ()
  model: str = "vae"
  schedule: Tuple[Tuple[str, str], ...] = ()
  name: str = "custom"
  label: str = ""
  formula: str = ""
  weight_name: str = "w"
  notes: Tuple[str, ...] = ()

  def __post_init__(self):
    if self.reconstruction not in RECONSTRUCTIONS:
      raise ConfigError(f"reconstruction must be one of "
                        f"{', '.join(RECONSTRUCTIONS)}, got "
                        f"{self.reconstruction!r}")
    if self.reconstruction == "nll":
      if self.likelihood not in BUILT_IN_LIKELIHOODS:
        registered_likelihood(self.likelihood)
    elif self.likelihood is not None:
      raise ConfigError(f"likelihood is implied by reconstruction="
                        f"{self.reconstruction!r}; do not give it")
    if self.sigma is not None:
      if self.decoder_likelihood != "gaussian" or \
          self.reconstruction != "nll":
        what = ("its sigma is implied by the factor"
                if self.reconstruction == "squared_error" else
                f"a {self.decoder_likelihood} likelihood has no sigma")
        raise ConfigError(f"sigma applies to a Gaussian NLL only; {what}")
      if isinstance(self.sigma, str):
        if self.sigma not in SIGMA_MODES:
          raise ConfigError(f"sigma must be a positive number or one of "
                            f"{', '.join(SIGMA_MODES)}, got {self.sigma!r}")
      else:
        _positive_number("sigma", self.sigma)
    elif self.reconstruction == "nll" and self.likelihood == "gaussian":
      raise ConfigError("a Gaussian NLL needs sigma (a number, or a tfvae "
                        "mode such as 'learned')")
    for name in ("rec_reduction", "kl_reduction"):
      if getattr(self, name) not in REDUCTIONS:
        raise ConfigError(f"{name} must be 'sum' or 'mean', got "
                          f"{getattr(self, name)!r}")
    object.__setattr__(self, "event_shape", _event_shape(self.event_shape))
    if isinstance(self.latent_dim, bool) or \
        not isinstance(self.latent_dim, int) or self.latent_dim < 1:
      raise ConfigError(f"latent_dim must be an integer >= 1, got "
                        f"{self.latent_dim!r}")
    _positive_number("weight", self.weight, allow_zero=True)
    _positive_number("factor", self.factor)
    if self.capacity is not None and self.kl_reduction != "sum":
      raise ConfigError("a capacity acts on the summed KL (nats); "
                        "kl_reduction must be 'sum'")

  # ------------------------------------------------------------ properties

  @property
  def num_features(self) -> int:
    """K = prod(event_shape)."""
    return math.prod(self.event_shape)

  @property
  def decoder_likelihood(self) -> str:
    """The decoder distribution the reconstruction term is the NLL of."""
    if self.reconstruction == "squared_error":
      return "gaussian"
    if self.reconstruction == "bce":
      return "bernoulli"
    return self.likelihood

  @property
  def family(self) -> str:
    """Conventions of one family can write the same objective."""
    return self.decoder_likelihood

  @property
  def sigma2(self) -> Optional[float]:
    """The Gaussian variance of the decoder, where one is implied and known."""
    if self.reconstruction == "squared_error":
      return weighting.sigma2_from_squared_error_factor(self.factor)
    if self.decoder_likelihood == "gaussian" and \
        not isinstance(self.sigma, str):
      return float(self.sigma)**2
    return None

  @property
  def nll_factor(self) -> float:
    """The factor on the reduced NLL (a squared error's factor is its sigma)."""
    return 1.0 if self.reconstruction == "squared_error" else self.factor

  @property
  def beta_eff(self) -> float:
    """Weight on the summed KL per unit of summed NLL (ELBO units)."""
    return weighting.beta_eff_from_weight(
        self.weight / self.nll_factor, self.rec_reduction, self.kl_reduction,
        self.num_features, self.latent_dim)

  @property
  def beta_norm(self) -> float:
    """Higgins et al.'s beta_norm = beta_eff J / K."""
    return weighting.beta_norm_from_beta_eff(self.beta_eff, self.num_features,
                                             self.latent_dim)

  @property
  def beta_l2(self) -> Optional[float]:
    """Weight on the summed KL per unit of summed squared error (the
    question's L2/sum units), for a Gaussian of known sigma; else None."""
    if self.sigma2 is None:
      return None
    return weighting.beta_l2_from_beta_eff(self.beta_eff, self.sigma2)

  # ----------------------------------------------------------- conversion

  def with_beta_eff(self, beta_eff: float) -> "Convention":
    """This convention with the weight that gives `beta_eff`."""
    _positive_number("beta_eff", beta_eff, allow_zero=True)
    weight = weighting.weight_from_beta_eff(
        beta_eff, self.rec_reduction, self.kl_reduction, self.num_features,
        self.latent_dim) * self.nll_factor
    return dataclasses.replace(self, weight=weight)

  def with_beta_l2(self, beta_l2: float) -> "Convention":
    """This (Gaussian, known sigma) convention with the weight for `beta_l2`."""
    if self.sigma2 is None:
      raise ConfigError(f"{self.describe()} has no known Gaussian sigma; "
                        "beta_l2 does not fix its weight")
    return self.with_beta_eff(
        weighting.beta_eff_from_beta_l2(beta_l2, self.sigma2))

  def same_objective_as(self, source: "Convention") -> "Convention":
    """This convention (a template) written for the objective of `source`.

    The shape, latent size and capacity come from `source`; the weight is
    solved so that the optimised objective is the same up to a constant
    factor: equal beta_l2 for Gaussians, equal beta_eff otherwise.

    Raises:
      ConfigError: the two cannot write the same objective (another
        likelihood family, a capacity against a plain weight, or a Gaussian
        whose sigma is only known after training).
    """
    if self.family != source.family:
      raise ConfigError(f"{self.describe()} is a {self.family} objective; "
                        f"{source.describe()} is {source.family}")
    if (self.capacity is None) != (source.capacity is None):
      raise ConfigError(f"{self.describe()} and {source.describe()}: only one "
                        "of them is a capacity objective")
    template = dataclasses.replace(
        self, event_shape=source.event_shape, latent_dim=source.latent_dim,
        capacity=source.capacity,
        likelihood_settings=(self.likelihood_settings or
                             source.likelihood_settings))
    if source.family == "gaussian":
      if source.beta_l2 is None:
        raise ConfigError("the source's sigma is fitted during training; "
                          "convert a finished run (--from=run:DIR)")
      if template.sigma2 is None:
        raise ConfigError(f"{template.describe()}: its sigma is fitted during "
                          "training; it cannot be given a fixed objective")
      return template.with_beta_l2(source.beta_l2)
    return template.with_beta_eff(source.beta_eff)

  def describe(self) -> str:
    return self.label or f"{self.name} ({self.reconstruction})"

  # ----------------------------------------------------------- tfvae flags

  def tfvae_flags(self) -> dict:
    """tfvae's training flags for the same objective (an ordered dict).

    Squared error becomes a Gaussian with the implied sigma: its NLL is the
    squared error times the factor plus a constant, so the loss is the same
    (gradients included). A factor on an NLL only scales the loss (the
    learning rate); `--beta` is then weight / factor.
    """
    flags = {"model": self.model, "likelihood": self.decoder_likelihood}
    if self.decoder_likelihood == "gaussian":
      if self.reconstruction == "squared_error" or not isinstance(self.sigma,
                                                                  str):
        flags["sigma"] = _format_number(math.sqrt(self.sigma2))
      else:
        flags["sigma"] = self.sigma
    flags.update(self.likelihood_settings)
    flags["rec_reduction"] = self.rec_reduction
    flags["kl_reduction"] = self.kl_reduction
    weight = self.weight / self.nll_factor
    if self.capacity is None:
      flags["beta"] = _format_number(weight)
      flags.update(self.schedule)
    else:
      flags["balancer"] = "capacity"
      flags["capacity_gamma"] = _format_number(weight)
      flags["capacity_max"] = _format_number(self.capacity.c_max)
      flags["capacity_steps"] = str(self.capacity.steps)
    flags["latent_dim"] = str(self.latent_dim)
    return flags

  def tfvae_command(self, program="python scripts/train.py") -> str:
    return " ".join([program] + [f"--{k}={v}"
                                 for k, v in self.tfvae_flags().items()])

  def summary(self) -> dict:
    """Every unit of this convention as a JSON-ready dict."""
    flags = self.tfvae_flags()
    return {
        "convention": self.name,
        "label": self.describe(),
        "formula": self.formula,
        "weight_name": self.weight_name,
        "weight": self.weight,
        "reconstruction": self.reconstruction,
        "likelihood": self.decoder_likelihood,
        "factor": self.factor,
        "rec_reduction": self.rec_reduction,
        "kl_reduction": self.kl_reduction,
        "event_shape": list(self.event_shape),
        "num_features": self.num_features,
        "latent_dim": self.latent_dim,
        "beta_eff": self.beta_eff,
        "beta_norm": self.beta_norm,
        "beta_l2": self.beta_l2,
        "sigma2": self.sigma2,
        "capacity": (dataclasses.asdict(self.capacity)
                     if self.capacity else None),
        "flags": [f"--{k}={v}" for k, v in flags.items()],
        "command": self.tfvae_command(),
        "notes": list(self.notes),
    }


def registered_likelihood(name):
  """The likelihood family registered as `name` (reads the registry)."""
  from tfvae import likelihoods  # pylint: disable=import-outside-toplevel
  return likelihoods.lookup(name)


def likelihood_meaning(name) -> dict:
  """What a KL weight means for the family `name` (its translator entry)."""
  return registered_likelihood(name).translator_entry()


def _format_number(value: float) -> str:
  """Shortest text that reads back as the same float (no trailing .0)."""
  value = float(value)
  if value == int(value) and abs(value) < 1e15:
    return str(int(value))
  return repr(value)
