"""The likelihood protocol: decoder output -> an elementwise `tfd.Distribution`.

The decoder emits an unconstrained tensor `params` of shape
`[batch] + likelihood.params_shape(event_shape)`; the likelihood turns it into
an elementwise distribution over the K features of the event and reports
`nll = -log p(x|z)` per feature in nats, which the objective reduces. The
event may have any shape: images [H, W, C], sequences [T, D], vectors [D].
The "channel" axis is the last axis of the event.

This package is the only place where log p(x|z) is written; the model, the
evaluation and the export all call these classes.
"""

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf

from tfvae.objectives import elbo

SUPPORTS = ("binary", "unit", "real")


class Likelihood(keras.layers.Layer):
  """Base class: maps decoder params to an elementwise distribution.

  Subclasses implement `distribution(params, x=None)`; `x` is only used by
  likelihoods whose parameters depend on the data (the optimal sigma).
  """

  # Support of the data: "binary" ({0, 1}), "unit" ([0, 1]) or "real".
  support = "unit"
  # Decoder outputs per event feature (2 when it also predicts a scale).
  params_per_feature = 1
  # The registry name (`make_likelihood`, exports' metadata).
  likelihood_name = ""

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

  def distribution(self, params, x=None):
    """The elementwise `tfd.Distribution` for decoder output `params`."""
    raise NotImplementedError

  def nll(self, x, params):
    """Elementwise -log p(x | params) in nats, float32."""
    return -self.distribution(params, x).log_prob(x)

  def log_likelihood(self, x, params):
    """log p(x | params) per example (summed over the event), nats."""
    return -elbo.reduce_features(self.nll(x, params), "sum")

  def mean(self, params, x=None):
    """The reconstruction shown to users: the distribution's mean."""
    return self.distribution(params, x).mean()

  def sigma_tensor(self, params, x=None) -> Optional[tf.Tensor]:
    """The (mean) sigma of this batch for logging, or None without a sigma."""
    del params, x
    return None

  def describe(self) -> dict:
    """Metadata stored with exports (name and settings)."""
    return {"likelihood": self.likelihood_name}
