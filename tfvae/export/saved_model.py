"""Versioned, atomic SavedModel export of a tfvae model for TF Serving.

Layout (TF Serving's, see `tfvae.export.layout`):
`<export_base>/<version>/saved_model.pb`, where `<version>` is the next free
integer (1, 2, ...). An existing version is never touched. The SavedModel is
written to a hidden temporary directory beside the target, flushed to disk,
and renamed into place with one `os.rename`, so a reader (or TF Serving
polling the directory) never sees a half-written version, even when the
exporting process is killed with SIGKILL.

The exported object is a plain `tf.Module` with `tf.function`s of fixed input
signatures; loading it needs only TensorFlow (`tf.saved_model.load`), not
tfvae, Keras or TensorFlow Probability. Signatures (B = batch, [H, W, C] the
training images, J the latent dimensions; `x` is float32 in the scale the
model was trained on, i.e. stored values times `data_scale`, which is [0, 1]
for image data):

- `serving_default`, `encode`: x -> z_mean, z_log_variance [B, J] and one
  posterior sample z = z_mean + exp(z_log_variance / 2) eps [B, J].
- `decode`: z [B, J] -> mean [B, H, W, C] of p(x|z), `params` (the decoder's
  unconstrained output: logits for Bernoulli and continuous Bernoulli, the
  pre-sigmoid location for Gaussians, plus the pre-softclip log sigma channels
  for `learned_pixel`) and, for Gaussians, `scale` (sigma per feature).
- `reconstruct`: x -> reconstruction = mean of p(x | z = z_mean).
- `sample`: num_samples (int32 scalar) -> images = mean of p(x|z), z ~ N(0, I),
  and the z used.
- `elbo`: x -> per-example neg_elbo = distortion + rate (nats), rate =
  KL(q(z|x) || N(0, I)) in closed form, distortion = -E_q[log p(x|z)]
  estimated with `ELBO_SAMPLES` posterior samples, and bits_per_dim =
  neg_elbo / (K ln 2) (Kingma & Welling 2014; rate/distortion as in Alemi et
  al. 2018). The samples use common random numbers fixed in the export
  (eps_s, s = 1..S, the same for every example), so the score is a
  deterministic function of the example alone: an anomaly score.
- The sentence VAE (`model=sequence`) has its own signatures on token ids
  (`tfvae.export.sequence`) and `assets/vocab.txt`.
- `encode_uint8`, `reconstruct_uint8`, `elbo_uint8`: the same on the raw
  integer values of the training data (uint8 x, multiplied by `data_scale`
  inside the graph; 1/16 for `digits`, 1/255 for uint8 images). Present only
  when the training data were stored as uint8.

Decoder sigma with `--sigma=optimal` is the batch RMSE during training; serving
uses the value of the last training batch (`last_log_sigma`), so each
example's likelihood depends on that example only.

Assets: `assets/config.json` (the run's full training config) and
`assets/tfvae_export.json` (tfvae and TensorFlow versions, training step,
likelihood, image shape, data scale, input dtypes, the signatures and the ELBO
estimator's settings).
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from tfvae import __version__
from tfvae.export import layout
from tfvae.export import schema
from tfvae.export import sequence
from tfvae.export import signatures as signatures_lib
from tfvae.export.layout import ExportError  # pylint: disable=unused-import

ELBO_SAMPLES = signatures_lib.ELBO_SAMPLES
ELBO_SEED = signatures_lib.ELBO_SEED
METADATA_FILE = schema.METADATA_FILE
CONFIG_FILE = schema.CONFIG_FILE
VOCAB_FILE = schema.VOCAB_FILE


def model_description(model):
  """model ("vae" / "reference" / "sequence"), likelihood and sigma, read
  from the model."""
  likelihood = getattr(model, "likelihood", None)
  if hasattr(model, "generate") and likelihood is not None:
    return {"model": "sequence", "likelihood": "categorical",
            "likelihood_description": likelihood.describe(), "sigma": None,
            "max_length": model.max_length, "vocab_size": model.vocab_size,
            **{name: getattr(model, name) for name in (
                "pad_id", "unk_id", "bos_id", "eos_id")}}
  if likelihood is None:
    return {"model": "reference", "likelihood": f"reference_{model.rec}",
            "sigma": None}
  described = likelihood.describe()
  # `sigma` and `gaussian_mean` as tfvae 0.2 wrote them, for 0.2's readers.
  return {"model": "vae", "likelihood": described["likelihood"],
          "likelihood_description": described,
          "sigma": described.get("sigma"),
          "gaussian_mean": described.get("mean")}


def _metadata(model, uint8_scale, signatures, step):
  x_dtypes = {"float32": "x in the training scale (stored value * data_scale)"}
  if uint8_scale is not None:
    x_dtypes["uint8"] = "raw stored values, scaled by data_scale in the graph"
  return {
      "tfvae_version": __version__,
      "tensorflow_version": tf.__version__,
      "step": step,
      **model_description(model),
      "image_shape": list(model.image_shape),
      "latent_dim": int(model.latent_dim),
      "data_scale": uint8_scale,
      "input_dtypes": x_dtypes,
      "signatures": sorted(signatures),
      "elbo_samples": ELBO_SAMPLES,
      "elbo_seed": list(ELBO_SEED),
  }


# ------------------------------------------------------------------ export


def export(model, config, export_base, uint8_scale=None, step=None):
  """Writes `<export_base>/<next version>/` atomically; returns its path.

  Args:
    model: a built tfvae model (`VAE` or `ReferenceVAE`).
    config: the run's config (saved as an asset), or None for a model built
      in Python.
    export_base: the model's base directory (TF Serving's model base path).
    uint8_scale: multiply raw uint8 training values by this to get the model's
      inputs (`rundir.data_spec(data)['uint8_scale']`); None omits the
      `*_uint8` signatures.
    step: the training step of the weights, recorded in the metadata (default:
      the model's optimizer step, when it has an optimizer).

  Raises:
    ExportError: `export_base` is unusable (a file, a SavedModel itself, not
      writable). Nothing is written then.
  """
  # Long: one atomic sequence (temporary directory, assets, save, fsync,
  # rename) whose cleanup must see every step.
  layout.check_export_base(export_base)
  export_base = os.path.abspath(export_base)
  if step is None and getattr(model, "optimizer", None) is not None:
    step = int(model.optimizer.iterations.numpy())
  vocab = None
  if hasattr(model, "generate") and hasattr(model, "vocab_size"):
    # The sentence VAE: signatures on token ids (`tfvae.export.sequence`).
    module, signatures = sequence.build_serving_module(model)
    vocab = getattr(model, "vocab_tokens", None)
  else:
    module, signatures = signatures_lib.build_serving_module(model,
                                                             uint8_scale)
  os.makedirs(export_base, exist_ok=True)
  layout.remove_stale_temporaries(export_base)
  tmp = layout.new_temporary(export_base)
  sources = tempfile.mkdtemp(prefix="tfvae-export-assets-")
  try:
    config_path = os.path.join(sources, CONFIG_FILE)
    with open(config_path, "w") as f:
      f.write((config.to_json() if config is not None else "{}") + "\n")
    metadata_path = os.path.join(sources, METADATA_FILE)
    with open(metadata_path, "w") as f:
      json.dump(_metadata(model, uint8_scale, signatures, step), f,
                indent=2, sort_keys=True)
      f.write("\n")
    if vocab is not None:
      vocab_path = os.path.join(sources, VOCAB_FILE)
      with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("".join(f"{token}\n" for token in vocab))
      module.vocab_asset = tf.saved_model.Asset(vocab_path)
    module.config_asset = tf.saved_model.Asset(config_path)
    module.metadata_asset = tf.saved_model.Asset(metadata_path)
    tf.saved_model.save(module, tmp, signatures=signatures)
    return layout.publish(tmp, export_base)
  except (OSError, tf.errors.OpError) as e:
    # Disk full, read-only, permissions: the unfinished temporary directory
    # is removed below; published versions were never touched.
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(
        getattr(e, "message", e)).strip().split("\n")[0]
    raise ExportError(f"cannot write the export in {export_base}: "
                      f"{reason[:300]}; existing versions are unchanged"
                      ) from None
  finally:
    shutil.rmtree(sources, ignore_errors=True)
    if os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)


def export_model(model, export_base, uint8_scale=None, config=None, step=None):
  """Exports any built tfvae model for TF Serving (the Python API's entry).

  Writes `<export_base>/<next version>/` atomically and returns its path; see
  `export` for the signatures and `uint8_scale`.
  """
  return export(model, config, export_base, uint8_scale=uint8_scale, step=step)
