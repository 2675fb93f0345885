"""PyTorch-VAE's VanillaVAE (AntixK/PyTorch-VAE, `models/vanilla_vae.py`,
`loss_function`, and `experiment.py`; configs/vae.yaml: 64x64x3 CelebA,
latent_dim 128).

    kld_weight = kwargs['M_N']  # Account for the minibatch samples from the dataset
    recons_loss = F.mse_loss(recons, input)
    kld_loss = torch.mean(-0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp(), dim=1), dim=0)
    loss = recons_loss + kld_weight * kld_loss

`experiment.py` passes `M_N = batch_size / num_train_imgs` (M / N; later
versions read a fixed `kld_weight` from the config, e.g. 0.00025).
`F.mse_loss` averages over the batch *and* the K features, the KL is summed
over J and averaged over the batch, so per example

    loss = SSE / K + w KL_sum,   w = M / N

the question's "mean squared error" with the KL summed: a Gaussian with
sigma^2 = 1/2 and beta_eff = w K (beta_l2 = w K; beta_norm = w J). M / N
scales a data-set-level KL to one minibatch (the ELBO summed over the N
examples, estimated from M); here it meets a KL already averaged over the
batch and a reconstruction averaged over features, so it is a small beta:
64x64x3, M = 144, N = 162,770 gives beta_eff = 10.9, not 1.
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "pytorch_vae"
VERSION = "PyTorch-VAE (AntixK), VanillaVAE"
SOURCE = "models/vanilla_vae.py"


def _convention(weight, event_shape, latent_dim, notes=()):
  return Convention(
      "squared_error", event_shape, latent_dim, weight=weight,
      rec_reduction="mean", kl_reduction="sum", name=PEER,
      label="PyTorch-VAE VanillaVAE (kld_weight w)",
      formula="MSE + w KL_sum (F.mse_loss averages over features)",
      weight_name="kld_weight", notes=notes)


def _positive_int(name, value):
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
  return value


def read(beta=None, batch_size=None, dataset_size=None,
         input_shape=(64, 64, 3), latent_dim=128):
  """VanillaVAE's loss with `kld_weight`.

  Args:
    beta: `kld_weight` as given (the config's value); or None and
    batch_size, dataset_size: M and N, for kld_weight = M / N as
      `experiment.py` computes it.
    input_shape: the event shape (configs/vae.yaml: 64x64x3).
    latent_dim: configs/vae.yaml's 128.
  """
  shape = _common.parse_shape(input_shape)
  given_sizes = batch_size is not None or dataset_size is not None
  if beta is not None and given_sizes:
    raise ConfigError("give kld_weight as beta, or batch_size and "
                      "dataset_size (kld_weight = M / N), not both")
  if beta is not None:
    return _convention(_common.number("beta", beta), shape, latent_dim)
  if not given_sizes:
    raise ConfigError("beta (kld_weight) or batch_size and dataset_size "
                      "(kld_weight = M / N) is required for the pytorch_vae "
                      "convention")
  m = _positive_int("batch_size", batch_size)
  n = _positive_int("dataset_size", dataset_size)
  if m > n:
    raise ConfigError(f"batch_size ({m}) cannot exceed dataset_size ({n})")
  note = (f"kld_weight = M / N = {m} / {n}",)
  return _convention(m / n, shape, latent_dim, notes=note)


def targets(event_shape, latent_dim):
  return [_convention(1.0, tuple(event_shape), latent_dim)]
