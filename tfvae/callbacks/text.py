"""The sentence VAE's evaluation during training: perplexity and text summaries.

Bowman et al. 2016, "Generating Sentences from a Continuous Space": a text
VAE is judged by its per-sentence NLL, the per-token perplexity over the real
tokens (`tfvae.metrics.text`), the KL, and by what the code carries: greedy
reconstructions of held-out sentences, greedy sentences from prior samples and
a homotopy (the greedy sentences along the line between two held-out
sentences' posterior means, Bowman's section 5.2).

`TextEvaluation` is the trainer's periodic evaluation
(`tfvae.callbacks.training.PeriodicEvaluation`) plus these: the perplexity
beside the other validation scalars and the three TensorBoard text
summaries `reconstructions`, `prior_samples` and `homotopy`.
"""

import time

import numpy as np
import tensorflow as tf

from tfvae.callbacks import training as cb
from tfvae.metrics.text import perplexities
from tfvae.metrics.text import tokens_per_sentence

NUM_SENTENCES = 4
HOMOTOPY_POINTS = 5


def ids_to_text(ids, vocab, eos_id, pad_id, bos_id):
  """Sentences (strings) from ids [N, T], up to the end token; ids printed
  as numbers without a vocabulary."""
  out = []
  for row in np.asarray(ids, np.int64):
    words = []
    for token in row:
      if token == eos_id:
        break
      if token in (pad_id, bos_id):
        continue
      words.append(vocab[token] if vocab is not None and
                   0 <= token < len(vocab) else str(int(token)))
    out.append(" ".join(words))
  return out


def homotopy_codes(z_start, z_end, points=HOMOTOPY_POINTS):
  """[points, J]: (1 - t) z_start + t z_end at t = 0, 1/(points-1), ..., 1."""
  t = np.linspace(0.0, 1.0, points, dtype=np.float32)[:, None]
  return (1.0 - t) * np.asarray(z_start, np.float32)[None] + t * np.asarray(
      z_end, np.float32)[None]


def _table(header, rows):
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  for row in rows:
    lines.append("| " + " | ".join(c.replace("|", "\\|") or " " for c in row)
                 + " |")
  return "\n".join(lines)


def text_samples(model, sentences, vocab, seed=0):
  """The three summaries' markdown: {name: table} for held-out `sentences`
  (int32 [n >= 2, T])."""
  def text(ids):
    return ids_to_text(ids, vocab, model.eos_id, model.pad_id, model.bos_id)

  sentences = np.asarray(sentences, np.int32)
  reconstructed = model.reconstruct(sentences)
  z_mean, _ = model.encode(sentences[:2])
  homotopy = model.generate(homotopy_codes(z_mean[0], z_mean[1]))
  sampled = model.sample(sentences.shape[0], seed=seed)
  points = np.linspace(0.0, 1.0, HOMOTOPY_POINTS)
  inputs = text(sentences)
  return {
      "reconstructions": _table(
          ["held-out sentence", "greedy reconstruction"],
          zip(inputs, text(reconstructed))),
      "prior_samples": _table(["greedy sentence from z ~ N(0, I)"],
                              [[s] for s in text(sampled)]),
      "homotopy": _table(
          ["t", "greedy sentence from (1 - t) z_1 + t z_2"],
          [["z_1", inputs[0]]] +
          [[f"{t:.2f}", s] for t, s in zip(points, text(homotopy))] +
          [["z_2", inputs[1]]]),
  }


class TextEvaluation(cb.PeriodicEvaluation):
  """`PeriodicEvaluation` for `model=sequence`: adds the perplexity and
  writes the text summaries (every `image_every` steps, like images).

  Args:
    dataset, writer, image_every, print_fn, seed, float32_copy: as
      `PeriodicEvaluation`.
    sentences: int32 ids [N, T] of the held-out sentences (the first
      `NUM_SENTENCES` are shown).
    vocab: the V token strings, or None.
  """

  def __init__(self, dataset, writer, sentences, vocab,
               image_every=0, print_fn=print, seed=0, float32_copy=None):
    super().__init__(dataset, writer, None, image_every=image_every,
                     print_fn=print_fn, seed=seed, float32_copy=float32_copy)
    self.sentences = np.asarray(sentences, np.int32)
    self.vocab = vocab

  def evaluate(self):
    result = super().evaluate()
    # The model's padding id: the likelihood's mask_value.
    mean_tokens = tokens_per_sentence(self.sentences, self.model.pad_id)
    result.update(perplexities(result, mean_tokens))
    step = self.last_step
    due = (self.image_every == 0 or
           step - self._last_image_step >= self.image_every)
    with self.writer.as_default(step=step):
      tf.summary.scalar("perplexity", result["perplexity"])
      if due and self.sentences.shape[0] >= 2:
        shown = self.sentences[:NUM_SENTENCES]
        for name, table in text_samples(self.scored_model(), shown,
                                        self.vocab, self.seed).items():
          tf.summary.text(name, table)
        self._last_image_step = step
    self.writer.flush()
    return result

  def on_epoch_end(self, epoch, logs=None):
    result = self.evaluate()
    self.print_fn(
        f"step {cb.global_step(self.model)}: validation -ELBO "
        f"{result['neg_elbo']:.3f} nats per sentence, perplexity "
        f"{result['perplexity']:.2f}, KL {result['rate']:.3f}, MI "
        f"{result['mutual_information']:.3f}, active units "
        f"{result['active_units']}/{result['latent_dim']} "
        f"[{time.time() - self._start:.0f}s]")
