"""An evaluation's TensorBoard summaries: scalars, table, images, traversals."""

# pylint: disable=import-outside-toplevel

import numpy as np

from tfvae.evaluation.metrics import HEADLINE_METRICS
from tfvae.evaluation.report import format_table

SCALAR_KEYS = ("neg_elbo", "bits_per_dim", "rate", "distortion", "iwae_nll",
               "iwae_bits_per_dim", "active_units", "mutual_information",
               "beta_eff", "beta_norm", "kl_weight", "sigma")
NUM_PREVIEW_IMAGES = 8


def write_tensorboard(directory, result, model, preview, step):
  """Scalars, per-dimension KL, the table, reconstructions and traversals."""
  import tensorflow as tf
  from tfvae.metrics import traversals
  from tfvae.callbacks import tensorboard as tb

  writer = tf.summary.create_file_writer(directory)
  with writer.as_default(step=step):
    for key in SCALAR_KEYS:
      if result.get(key) is not None:
        tf.summary.scalar(key, float(result[key]))
    tf.summary.scalar("num_collapsed_dims", len(result["collapsed_dims"]))
    for j, value in enumerate(result["kl_per_dim"]):
      tf.summary.scalar(f"kl_per_dim/{j:02d}", value)
    for short, _ in HEADLINE_METRICS:
      if result.get(short) is not None:
        tf.summary.scalar(f"disentanglement/{short}", result[short])
    tf.summary.text("evaluation", "```\n" + format_table(result) + "\n```")
    if tb.is_image_shape(preview.shape[1:]):
      recon = model.reconstruct(tf.convert_to_tensor(preview)).numpy()
      pairs = np.concatenate([preview, recon], axis=0)
      tf.summary.image("inputs_top_reconstructions_bottom",
                       tb.image_grid(pairs, len(preview)))
      traversals.write_traversals(model, preview, result["kl_per_dim"], step)
  writer.close()


def preview_images(images, scale):
  """The first NUM_PREVIEW_IMAGES images in the model's input scale."""
  return images[:NUM_PREVIEW_IMAGES].astype(np.float32) * scale
