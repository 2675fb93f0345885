"""disent's BetaVae (nmichlo/disent, commit 0fc9f9f).

Follows `disent/frameworks/vae/_unsupervised__betavae.py` (loss =
recon_loss + beta * kl_loss), `disent/frameworks/helper/reconstructions.py`
(the reconstruction losses) and `disent/frameworks/helper/reductions.py`:

    loss_reduction = "mean":      mean over all elements (batch, features;
                                  batch, latents): recon_mean + beta kl_mean
    loss_reduction = "mean_sum":  sum over the elements of each example, mean
                                  over the batch: recon_sum + beta kl_sum
    loss_reduction = "sum":       sum over the batch too (both terms scaled by
                                  the batch size: the same objective as mean_sum)

Reconstructions (unreduced, per element): `mse` = F.mse_loss (squared error,
sigma^2 = 1/2), `mse4` = 4 x squared error (sigma^2 = 1/8), `normal` = the
N(x; y, 1) NLL (sigma = 1), `bce` / `bernoulli` = binary cross-entropy on
logits (Bernoulli), `continuous_bernoulli`. Defaults (`Ae.cfg`, `BetaVae.cfg`):
recon_loss "mse", loss_reduction "mean", beta 0.003 ("approximately equal to
mean_sum beta of 4" for 64x64x3 and 9 latents: 4 x 9 / 12288).
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention

PEER = "disent"
VERSION = "disent (commit 0fc9f9f)"
SOURCE = "disent/frameworks/vae/_unsupervised__betavae.py"
RECONSTRUCTION_LOSSES = ("mse", "mse4", "normal", "bce", "bernoulli",
                         "continuous_bernoulli")
LOSS_REDUCTIONS = ("mean", "mean_sum", "sum")


def _convention(recon_loss, loss_reduction, beta, event_shape, latent_dim):
  reduction = "mean" if loss_reduction == "mean" else "sum"
  kwargs = dict(event_shape=event_shape, latent_dim=latent_dim, weight=beta,
                rec_reduction=reduction, kl_reduction=reduction, name=PEER,
                label=f"disent BetaVae, recon_loss={recon_loss}, "
                      f"loss_reduction={loss_reduction}",
                weight_name="beta")
  term = "mean" if reduction == "mean" else "sum"
  if recon_loss in ("mse", "mse4"):
    factor = 4.0 if recon_loss == "mse4" else 1.0
    prefix = "4 " if recon_loss == "mse4" else ""
    what = "MSE" if reduction == "mean" else "SSE"
    return Convention("squared_error", factor=factor,
                      formula=f"{prefix}{what} + beta KL_{term}", **kwargs)
  if recon_loss == "normal":
    return Convention("nll", likelihood="gaussian", sigma=1.0,
                      formula=f"NLL_N(sigma=1)_{term} + beta KL_{term}",
                      **kwargs)
  if recon_loss == "continuous_bernoulli":
    return Convention("nll", likelihood="continuous_bernoulli",
                      formula=f"NLL_CB_{term} + beta KL_{term}", **kwargs)
  return Convention("bce", formula=f"BCE_{term} + beta KL_{term}", **kwargs)


def read(beta=0.003, reconstruction_loss="mse", loss_reduction="mean",
         input_shape=None, latent_dim=None):
  """The convention of a disent BetaVae config.

  Args:
    beta: `BetaVae.cfg.beta` (disent's default 0.003).
    reconstruction_loss: `recon_loss` (disent's default "mse").
    loss_reduction: "mean" (default), "mean_sum" or "sum".
    input_shape: the observation shape (H, W, C in any order).
    latent_dim: z_size.
  """
  _common.choice("reconstruction_loss", reconstruction_loss,
                 RECONSTRUCTION_LOSSES)
  _common.choice("loss_reduction", loss_reduction, LOSS_REDUCTIONS)
  shape = _common.required("input_shape", _common.parse_shape(input_shape),
                           PEER)
  _common.required("latent_dim", latent_dim, PEER)
  return _convention(reconstruction_loss, loss_reduction,
                     _common.number("beta", beta), shape, latent_dim)


def targets(event_shape, latent_dim):
  return [_convention(r, red, 1.0, event_shape, latent_dim)
          for red in ("mean_sum", "mean") for r in ("mse", "bce")]
