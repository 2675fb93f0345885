"""The text papers' numbers: per-token perplexity over the real tokens.

Bowman et al. 2016 and texar report a text VAE by its per-sentence NLL and
the per-token perplexity over the real tokens (words and the end token,
padding excluded),

    perplexity = exp(sum_i -ELBO_i / sum_i T_i) = exp(-ELBO / T_bar),

an upper bound on the model's; `iwae_perplexity` uses the importance-weighted
NLL instead (tighter).
"""

import math

import numpy as np
import tensorflow as tf

from tfvae.metrics import diagnostics


def tokens_per_sentence(ids, pad_id):
  """T_bar: the mean number of real tokens (ids != pad_id) per sentence."""
  ids = np.asarray(ids)
  return float(np.sum(ids != pad_id)) / max(1, ids.shape[0])


def perplexities(result, mean_tokens):
  """`perplexity` (from the -ELBO) and, when `result` has `iwae_nll`,
  `iwae_perplexity`: exp(per-sentence NLL / tokens per sentence)."""
  out = {"tokens_per_sentence": mean_tokens,
         "perplexity": _exp(result["neg_elbo"] / mean_tokens)}
  if result.get("iwae_nll") is not None:
    out["iwae_perplexity"] = _exp(result["iwae_nll"] / mean_tokens)
  return out


def _exp(value):
  return math.exp(value) if value < 700 else float("inf")


def evaluate_text(model, x, batch_size=256, iw_samples=0, seed=0):
  """The text papers' numbers of a `SequenceVAE` on token ids x [N, T] (or
  a batched tf.data).

  `tfvae.metrics.diagnostics.evaluate` (exact averages: -ELBO, rate,
  distortion, active units with threshold 0.01, MI, (IWAE)) plus `nll`
  (the per-sentence -ELBO), `perplexity`, `iwae_perplexity` (with
  `iw_samples`) and `tokens_per_sentence`.

  Returns:
    dict of floats (and the per-dimension lists of `diagnostics.evaluate`).
  """
  if isinstance(x, tf.data.Dataset):
    model.prepare(x)
    dataset = x.map(lambda *xs: tf.cast(xs[0], tf.int32))
  else:
    ids = model.prepare(x)
    dataset = tf.data.Dataset.from_tensor_slices(ids).batch(batch_size)
  result, _, _ = diagnostics.evaluate(model, dataset, iw_samples=iw_samples,
                                      seed=seed)
  tokens = float(sum(float(tf.reduce_sum(model.token_count(batch)))
                     for batch in dataset))
  result.update(perplexities(result, tokens / result["num_examples"]))
  result["nll"] = result["neg_elbo"]
  return result
