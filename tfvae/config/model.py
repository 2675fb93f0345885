"""Which model a run builds: networks, latent size, likelihood.

The likelihood's own settings (`--sigma`, `--num_classes`, ...) are declared
by each family (`tfvae.likelihoods`, its `Settings`) and collected here from
the registry, so a new family adds its flags without touching this module.
"""

import dataclasses
from typing import Literal

from tfvae import likelihoods
from tfvae.config.base import Section, option, positive_int, with_settings
from tfvae.errors import ConfigError
from tfvae.likelihoods import base as likelihood_base

MODELS = ("vae", "reference", "sequence")
REFERENCE_RECS = ("l2", "bce")
KL_ESTIMATORS = ("analytic", "monte_carlo")
ARCHITECTURES = ("mlp", "conv")


@dataclasses.dataclass
class _ModelSettings(Section):
  """The model class, its decoder distribution and its networks."""

  model: Literal["vae", "reference", "sequence"] = option(
      "vae", "vae (the general, switchable VAE) | reference (the question's "
      "loss, line for line) | sequence (the sentence VAE on token ids: GRU "
      "encoder and teacher-forced GRU decoder, likelihood=categorical).",
      MODELS)
  reference_rec: Literal["l2", "bce"] = option(
      "l2", "Reconstruction of --model=reference: l2 (summed squared error) "
      "| bce (clipped, summed).", REFERENCE_RECS)
  # Checked against the registry when validated (users' families count).
  likelihood: str = option(
      "gaussian", "Decoder distribution: "
      + " | ".join(likelihoods.names()) + " (tfvae.likelihoods).")
  kl_estimator: Literal["analytic", "monte_carlo"] = option(
      "analytic", "analytic (closed form) | monte_carlo (one sample).",
      KL_ESTIMATORS)
  architecture: Literal["mlp", "conv"] = option(
      "mlp", "mlp | conv (8x8, 28x28, 32x32, 64x64 inputs).", ARCHITECTURES)
  latent_dim: int = option(8, "Number of latent dimensions J.")
  hidden_units: int = option(
      256, "Width of the mlp's hidden layers; with model=sequence, the GRUs' "
      "state size.")
  embedding_dim: int = option(
      64, "model=sequence: the size of the token embeddings.")
  word_dropout: float = option(
      0.0, "model=sequence: the probability that a decoder input token is "
      "replaced by <unk> during training (Bowman et al. 2016; 0 = none).")

  def likelihood_class(self):
    """The registered family of `likelihood`."""
    return likelihoods.lookup(self.likelihood)

  def validate(self) -> "ModelConfig":
    self.check_choices()
    self.likelihood_class().check_settings(self)
    positive_int("latent_dim", self.latent_dim)
    positive_int("hidden_units", self.hidden_units)
    positive_int("embedding_dim", self.embedding_dim)
    if not (isinstance(self.word_dropout, (int, float)) and
            0.0 <= self.word_dropout <= 1.0):
      raise ConfigError(f"word_dropout must be a probability in [0, 1], got "
                        f"{self.word_dropout!r}", params=("word_dropout",))
    if self.model == "sequence" and self.likelihood != "categorical":
      raise ConfigError(f"model=sequence models token ids: it needs "
                        f"likelihood=categorical, got "
                        f"likelihood={self.likelihood}",
                        params=("model", "likelihood"))
    return self


# The settings of every registered family follow the model's own.
ModelConfig = with_settings("ModelConfig", _ModelSettings,
                            likelihood_base.settings_fields())
