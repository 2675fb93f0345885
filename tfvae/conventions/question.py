"""The question's own code (Cross Validated, "How to weight KLD loss vs
reconstruction loss in variational auto-encoder"), as quoted in the README.

    kl_loss  = -0.5 * reduce_sum(1 + log_sigma_sq - mu^2 - exp(log_sigma_sq), axis=1)
    rec_loss = reduce_sum(squared_difference(y, x), axis=[1, 2, 3])       # l2
    rec_loss = -reduce_sum(x log y + (1 - x) log(1 - y), axis=[1, 2, 3])   # bce (y clipped to [1e-8, 1 - 1e-8])
    loss     = reduce_mean(kl_loss + rec_loss)

and its variant "replace the reduce_sum's with reduce_mean ... and then
manually weighting the KLD term" (around 0.1). So: l2 = SSE (a Gaussian with
sigma^2 = 1/2 up to a constant), bce = the Bernoulli NLL; each term summed or
averaged; a weight w on the KL (1 in the code). On mean/mean terms w is
exactly Higgins' beta_norm (of the sigma^2 = 1/2 Gaussian for l2).
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention

PEER = "question"
VERSION = "the question's code"
SOURCE = "its code, quoted in README.md (\"The question\")"
RECONSTRUCTION_LOSSES = ("l2", "bce")
ALIASES = {"mse": "l2", "sse": "l2"}


def _convention(reconstruction_loss, rec_reduction, kl_reduction, weight,
                event_shape, latent_dim):
  rec_word = {"l2": {"sum": "SSE", "mean": "MSE"},
              "bce": {"sum": "BCE_sum", "mean": "BCE_mean"}}
  formula = (f"{rec_word[reconstruction_loss][rec_reduction]} + "
             f"w KL_{kl_reduction}")
  label = (f"the question, {reconstruction_loss}, "
           f"{rec_reduction}/{kl_reduction}")
  kind = "squared_error" if reconstruction_loss == "l2" else "bce"
  return Convention(kind, event_shape, latent_dim, weight=weight,
                    rec_reduction=rec_reduction, kl_reduction=kl_reduction,
                    name=PEER, label=label, formula=formula, weight_name="w")


def read(beta=1.0, reconstruction_loss="l2", rec_reduction="sum",
         kl_reduction="sum", input_shape=None, latent_dim=None):
  """The question's loss: `beta` is the weight w on the KL term."""
  reconstruction_loss = ALIASES.get(reconstruction_loss, reconstruction_loss)
  _common.choice("reconstruction_loss", reconstruction_loss,
                 RECONSTRUCTION_LOSSES)
  _common.choice("rec_reduction", rec_reduction, ("sum", "mean"))
  _common.choice("kl_reduction", kl_reduction, ("sum", "mean"))
  shape = _common.required("input_shape", _common.parse_shape(input_shape),
                           PEER)
  _common.required("latent_dim", latent_dim, PEER)
  return _convention(reconstruction_loss, rec_reduction, kl_reduction,
                     _common.number("beta", beta), shape, latent_dim)


def targets(event_shape, latent_dim):
  return [_convention(r, red, red, 1.0, event_shape, latent_dim)
          for r in RECONSTRUCTION_LOSSES for red in ("sum", "mean")]
