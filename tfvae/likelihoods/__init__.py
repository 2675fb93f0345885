"""Decoder likelihoods p(x|z) through `tensorflow_probability.distributions`.

One module per family, each the only place its log-density is written, and a
registry by name (`tfvae.likelihoods.base`):

| name | class | data |
|---|---|---|
| bernoulli | `Bernoulli()` | binary data (logits; the BCE of the question and the Keras example on grey levels) |
| categorical | `Categorical(num_classes=..., mask_value=...)` | class or token ids (logits over V classes; padding masked) |
| continuous_bernoulli | `ContinuousBernoulli()` | grey levels in [0, 1], normalised |
| gaussian | `Gaussian(sigma=..., mean=...)` | real values or [0, 1]; fixed, learned (shared, per channel, per feature) or optimal sigma |
| beta | `Beta(clip=1e-4)` | values in (0, 1) (x clipped to [clip, 1 - clip]); two concentrations per feature |
| discretized_logistic | `DiscretizedLogistic(num_mixtures=10, num_bits=8)` | n-bit levels k / (2^n - 1); PixelCNN++'s logistic mixture per subpixel, bits/dim as in the literature |
| discretized_gaussian | `DiscretizedGaussian(num_bits=8)` | n-bit levels k / (2^n - 1); a binned Normal per subpixel (NVAE) |
| columns | `Columns("gaussian:4,bernoulli:3,categorical:4")` | table rows of mixed column types; learned sigma per Gaussian column |

`register(name)` adds a family (a user's own too), `lookup(name)` gives its
class, `get(name, **kwargs)` builds one, `names()` lists them,
`from_description(metadata)` rebuilds the one an export describes.
`make_likelihood(name, sigma, channels, mean)` is the 0.2 builder by name.
"""

from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import SUPPORTS
from tfvae.likelihoods.base import from_description
from tfvae.likelihoods.base import get
from tfvae.likelihoods.base import lookup
from tfvae.likelihoods.base import names
from tfvae.likelihoods.base import register
from tfvae.likelihoods.bernoulli import Bernoulli
from tfvae.likelihoods.bernoulli import ContinuousBernoulli
from tfvae.likelihoods.beta import Beta
from tfvae.likelihoods.categorical import Categorical
from tfvae.likelihoods.columns import Columns
from tfvae.likelihoods.discretized import DiscretizedGaussian
from tfvae.likelihoods.discretized import DiscretizedLogistic
from tfvae.likelihoods.gaussian import Gaussian
from tfvae.likelihoods.gaussian import MIN_LOG_SIGMA
from tfvae.likelihoods.gaussian import SIGMA_MODES
from tfvae.likelihoods.gaussian import softclip


def make_likelihood(name, sigma="learned", channels=None, mean="sigmoid"):
  """Builds the likelihood named `name`; `sigma`, `mean` and `channels`
  concern the Gaussian (the 0.2 builder; new code uses `get`)."""
  if name == Gaussian.likelihood_name:
    return Gaussian(sigma=sigma, mean=mean, channels=channels)
  return get(name)


def __getattr__(name):
  # The registry's names, read when asked (users' families register later).
  if name == "LIKELIHOODS":
    return names()
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Likelihood", "Bernoulli", "Categorical", "ContinuousBernoulli",
           "Gaussian", "Beta", "DiscretizedLogistic", "DiscretizedGaussian",
           "Columns",
           "make_likelihood", "register", "lookup", "get", "names",
           "from_description", "softclip", "MIN_LOG_SIGMA", "SIGMA_MODES",
           "SUPPORTS"]
