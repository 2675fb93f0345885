"""An evaluation's TensorBoard page: scalars, table, images, traversals.

What the page shows is decided here; the summaries are written by
`tfvae.callbacks.tensorboard`, the one home of TensorBoard writing (the
training's validation summaries use the same writers).
"""

# pylint: disable=import-outside-toplevel

import numpy as np

from tfvae.evaluation.metrics import HEADLINE_METRICS
from tfvae.evaluation.report import format_table

SCALAR_KEYS = ("neg_elbo", "bits_per_dim", "rate", "distortion", "iwae_nll",
               "iwae_bits_per_dim", "active_units", "mutual_information",
               "beta_eff", "beta_norm", "kl_weight", "sigma")
NUM_PREVIEW_IMAGES = 8


def write_tensorboard(directory, result, model, preview, step):
  """Scalars, per-dimension KL, the table, reconstructions and traversals,
  written with `tfvae.callbacks.tensorboard`'s writers."""
  from tfvae.callbacks import tensorboard as tb

  writer = tb.file_writer(directory)
  with writer.as_default(step=step):
    tb.write_scalars({key: float(result[key]) for key in SCALAR_KEYS
                      if result.get(key) is not None})
    tb.write_scalars({"num_collapsed_dims": len(result["collapsed_dims"])})
    tb.write_kl_per_dim(result["kl_per_dim"])
    tb.write_scalars({f"disentanglement/{short}": result[short]
                      for short, _ in HEADLINE_METRICS
                      if result.get(short) is not None})
    tb.write_text(writer, "evaluation", format_table(result), step)
    if tb.is_image_shape(preview.shape[1:]):
      tb.write_reconstructions(model, preview)
      tb.write_traversals(model, preview, result["kl_per_dim"], step)
  writer.close()


def preview_images(images, scale):
  """The first NUM_PREVIEW_IMAGES images in the model's input scale."""
  return images[:NUM_PREVIEW_IMAGES].astype(np.float32) * scale
