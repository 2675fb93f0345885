"""Decoder likelihoods p(x|z) through `tensorflow_probability.distributions`.

One class per family, each the only place its log-density is written:

- `Bernoulli()`: binary data (logits; the BCE of the question and the Keras
  example on grey levels).
- `ContinuousBernoulli()`: the normalised density for grey levels in [0, 1].
- `Gaussian(sigma=..., mean=...)`: fixed, learned (shared, per channel, per
  feature) or optimal sigma; identity mean for real-valued data, sigmoid mean
  for data in [0, 1].

`make_likelihood(name, sigma, channels, mean)` builds one by name (the
command line, exports' metadata).
"""

from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import SUPPORTS
from tfvae.likelihoods.bernoulli import Bernoulli
from tfvae.likelihoods.bernoulli import ContinuousBernoulli
from tfvae.likelihoods.gaussian import Gaussian
from tfvae.likelihoods.gaussian import MIN_LOG_SIGMA
from tfvae.likelihoods.gaussian import SIGMA_MODES
from tfvae.likelihoods.gaussian import softclip

LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")


def make_likelihood(name, sigma="learned", channels=None, mean="sigmoid"):
  """Builds the likelihood named `name` ("bernoulli", "continuous_bernoulli",
  "gaussian"); `sigma`, `mean` and `channels` concern the Gaussian. The
  default mean is sigmoid: tfvae's image data lies in [0, 1]."""
  if name == "bernoulli":
    return Bernoulli()
  if name == "continuous_bernoulli":
    return ContinuousBernoulli()
  if name == "gaussian":
    return Gaussian(sigma=sigma, mean=mean, channels=channels)
  raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got "
                   f"{name!r}")


__all__ = ["Likelihood", "Bernoulli", "ContinuousBernoulli", "Gaussian",
           "make_likelihood", "softclip", "MIN_LOG_SIGMA", "SIGMA_MODES",
           "SUPPORTS", "LIKELIHOODS"]
