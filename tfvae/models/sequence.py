"""The sentence VAE: an autoregressive decoder that reads the previous tokens.

Bowman et al. 2016, "Generating Sentences from a Continuous Space" (CoNLL):
an encoder reads a sentence x = (x_1, ..., x_T) of token ids into q(z|x), and
a decoder models

    p(x|z) = prod_t Categorical(x_t; softmax(f(z, x_<t)))

reading the previous tokens (teacher forcing: the decoder's input at step t is
x_{t-1}, behind a begin token at t = 1), so

    D_i = -sum_{t real} log p(x_it | z_i, x_i,<t),   R_i = KL(q(z|x_i) || p(z))

with padding left out of the sum (`tfvae.likelihoods.Categorical` with
`mask_value=pad_id`); the end token is a target like any word. The same
objective as `tfvae.VAE` (`tfvae.models.objective.objective`): every
weighting, balancer and schedule applies, and the same true terms are logged.
On text a plain VAE drives the KL to ~0 (the decoder models the sentence on
its own); the paper's two remedies:

- KL annealing: a weight w(t) rising from 0 to 1. Bowman's logistic
  w(t) = 1 / (1 + exp(-k (t - x0))) with Sentence-VAE's k = 0.0025,
  x0 = 2500 is exactly `tfvae.balancers.Sigmoid(0, k=0.0025, x0=2500)`
  (`logistic_annealing()`; tfvae's sigmoid is neither normalised nor shifted:
  w(0) = 0.0019, not 0). texar's `vae_text` and He et al. 2019's linear
  warm-up from 0.1 adds r = 1 / W (W = warm-up epochs x batches per epoch)
  before every step, w(t) = min(1, 0.1 + (t + 1) / W): that is
  `tfvae.balancers.Linear(0.9 W, start=0.1)` one step later (its
  w(t) = 0.1 + 0.9 min(1, t / (0.9 W))), a difference of 1 / W while it
  ramps. Fu et al. 2019's cyclical schedule with R = 0.5 is
  `tfvae.balancers.Cyclical(N, n_cycles=4, ratio=0.5)` (their
  `frange_cycle_linear` at every step); free bits per dimension
  `tfvae.balancers.FreeBits`.
- Word dropout: during training each decoder input token (not the begin
  token, not padding) is replaced by the unknown token with probability p,
  so the decoder must lean on z. The draws are a pure function of the
  model's seed and the step (like the posterior noise, `BaseVAE`), for the
  global batch, so replicas and XLA see the noise one device would.

Per-token numbers divide by the real tokens (words and the end token):
perplexity = exp(sum_i -ELBO_i / sum_i T_i) (texar's; an upper bound on the
model's, tighter with the importance-weighted NLL;
`tfvae.metrics.text.evaluate_text`).

The networks: any Keras encoder ids [B, T] -> (mean, log_variance) and any
decoder [z [B, J], decoder inputs [B, T] ids] -> logits [B, T, V] that is
causal in its token input; `gru_encoder` and `gru_decoder` here build the
paper's recurrent pair (Embedding + GRU -> (mean, log variance); Embedding,
z concatenated at every step and z -> the initial state, GRU, Dense(V)).

    encoder = gru_encoder(vocab_size=2000, latent_dim=16)
    decoder = gru_decoder(vocab_size=2000, latent_dim=16)
    vae = SequenceVAE(encoder, decoder, vocab_size=2000, word_dropout=0.5,
                      balancer=logistic_annealing())
    vae.compile(optimizer="adam")
    vae.fit(x_train, validation_data=x_val, batch_size=32, epochs=10)
    vae.generate(z, temperature=0.0)   # greedy; > 0 samples
"""

# Size: SequenceVAE is one class: teacher forcing, word dropout, generation
# and its data preparation share its token ids and seeds.

import math

import keras
import numpy as np
import tensorflow as tf

from tfvae import balancing
from tfvae.errors import DataError
from tfvae.likelihoods.categorical import Categorical
from tfvae.models import objective as objective_lib
from tfvae.models.base import BaseVAE
from tfvae.models.base import check_type
from tfvae.models.base import images_from_batch
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib
from tfvae.objectives import seeds
from tfvae.networks import NotEqual  # pylint: disable=unused-import
from tfvae.networks import RepeatOverTime  # pylint: disable=unused-import
from tfvae.networks import gru_decoder  # pylint: disable=unused-import
from tfvae.networks import gru_encoder  # pylint: disable=unused-import
from tfvae.objectives.weighting import Weighting

# The special tokens of `tfvae.data.text` (and the defaults here).
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
# Folded into the training seed so word dropout never shares the posterior
# noise's stream.
WORD_DROPOUT_STREAM = 101
# Sentence-VAE's logistic annealing (timbmg/Sentence-VAE `kl_anneal_function`).
BOWMAN_K = 0.0025
BOWMAN_X0 = 2500


def logistic_annealing(k=BOWMAN_K, x0=BOWMAN_X0, **kwargs):
  """Bowman's w(t) = 1 / (1 + exp(-k (t - x0))), Sentence-VAE's constants.

  tfvae's sigmoid schedule from 0 to the Weighting's weight (1, the ELBO, by
  default; `stop=` sets another); its `warmup_steps` is then unused.
  """
  return balancing.Sigmoid(0, k=k, x0=x0, **kwargs)


# --------------------------------------------------------------------- model


@keras.saving.register_keras_serializable(package="tfvae",
                                          name="SequenceVAE")
class SequenceVAE(BaseVAE):
  """A VAE on token sequences with a teacher-forced decoder.

  `model.save("x.keras")` / `keras.models.load_model` round-trip it like
  `tfvae.VAE` (networks, weighting, balancer and its state, optimiser).

  Args:
    encoder: ids [B, T] (int32) -> (mean, log_variance) or one [B, 2 J]
      tensor.
    decoder: [z [B, J], decoder inputs [B, T] int32] -> logits [B, T, V],
      causal in the tokens (the output at t may read inputs <= t only).
    vocab_size: V; ids lie in [0, V).
    weighting: a `tfvae.Weighting` (default: sum/sum, beta 1: the ELBO).
      A "mean" reconstruction divides by the padded length T.
    balancer: a `tfvae.balancing.Balancer` or a registered name (default:
      the constant weight), e.g. `logistic_annealing()`.
    word_dropout: p, the probability that a decoder input token is replaced
      by `unk_id` during training (Bowman et al.; 0 = none).
    bos_id, eos_id, unk_id, pad_id: the begin, end, unknown and padding
      tokens (distinct ids in [0, V)). x is padded with `pad_id` after the
      end token.
    kl_estimator: "analytic" or "monte_carlo".
    seed: seed of the training noise (posterior sample and word dropout).
  """

  def __init__(self, encoder, decoder, vocab_size, weighting=None,
               balancer=None, word_dropout=0.0, bos_id=BOS_ID, eos_id=EOS_ID,
               unk_id=UNK_ID, pad_id=PAD_ID, kl_estimator="analytic", seed=0,
               **kwargs):
    if (not isinstance(vocab_size, (int, np.integer)) or
        isinstance(vocab_size, bool) or vocab_size < 2):
      raise ValueError(f"vocab_size must be an integer >= 2, got "
                       f"{vocab_size!r}")
    specials = {"bos_id": bos_id, "eos_id": eos_id, "unk_id": unk_id,
                "pad_id": pad_id}
    for name, value in specials.items():
      if (not isinstance(value, (int, np.integer)) or
          not 0 <= value < vocab_size):
        raise ValueError(f"{name} must be an id in [0, {vocab_size}), got "
                         f"{value!r}")
    if len(set(specials.values())) != len(specials):
      raise ValueError(f"bos_id, eos_id, unk_id and pad_id must differ, got "
                       f"{specials}")
    if not (isinstance(word_dropout, (int, float)) and
            0.0 <= word_dropout <= 1.0):
      raise ValueError(f"word_dropout must be a probability in [0, 1], got "
                       f"{word_dropout!r}")
    weighting = Weighting() if weighting is None else weighting
    if balancer is None:
      balancer = balancing.KLWeight()
    elif isinstance(balancer, str):
      balancer = balancing.get(balancer)
    check_type("weighting", weighting, Weighting)
    check_type("balancer", balancer, balancing.Balancer)
    if kl_estimator not in objective_lib.KL_ESTIMATORS:
      raise ValueError(f"kl_estimator must be one of "
                       f"{', '.join(objective_lib.KL_ESTIMATORS)}, got "
                       f"{kl_estimator!r}")
    kwargs.setdefault("name", "sequence_vae")
    super().__init__(encoder, decoder,
                     extra_scalars=("perplexity",) + tuple(
                         balancer.scalar_names),
                     seed=seed, **kwargs)
    self.vocab_size = int(vocab_size)
    self.bos_id, self.eos_id = int(bos_id), int(eos_id)
    self.unk_id, self.pad_id = int(unk_id), int(pad_id)
    self.word_dropout = float(word_dropout)
    self.likelihood = Categorical(num_classes=self.vocab_size,
                                  mask_value=self.pad_id)
    self.weighting = weighting
    self.balancer = balancer
    self.kl_estimator = kl_estimator
    # The decoder's outputs per token (the IWAE estimate sizes its chunks).
    self.params_per_feature = self.vocab_size

  SERIALIZED_OBJECTS = ("encoder", "decoder", "weighting", "balancer")

  def get_config(self):
    config = super().get_config()
    config.update(
        vocab_size=self.vocab_size,
        weighting=keras.saving.serialize_keras_object(self.weighting),
        balancer=keras.saving.serialize_keras_object(self.balancer),
        word_dropout=self.word_dropout, bos_id=self.bos_id,
        eos_id=self.eos_id, unk_id=self.unk_id, pad_id=self.pad_id,
        kl_estimator=self.kl_estimator)
    return config

  # ------------------------------------------------------------ shapes

  @property
  def max_length(self):
    """T, the padded sentence length (set by `build`)."""
    return None if self.event_shape is None else self.event_shape[0]

  def build(self, input_shape):
    """Fixes T and checks the networks' outputs, before any training step.

    Raises ValueError naming `x`, `encoder` or `decoder`.
    """
    if self.event_shape is not None:
      return
    shape = tuple(input_shape)
    if len(shape) != 2 or shape[1] is None:
      raise ValueError(f"x must be token ids of shape [batch, T] with a known "
                       f"T, got shape {shape}")
    self.event_shape = (int(shape[1]),)
    self.num_features = int(shape[1])
    ids = keras.KerasTensor((None, self.num_features), "int32")
    mean, _ = self._split_posterior(
        self.encoder.compute_output_spec(ids))
    self.latent_dim = int(mean.shape[-1])
    z = keras.KerasTensor((None, self.latent_dim), "float32")
    logits = self.decoder.compute_output_spec([z, ids])
    expected = (self.num_features, self.vocab_size)
    got = getattr(logits, "shape", None)
    if got is None or tuple(got[1:]) != expected:
      raise ValueError(
          f"decoder must map [z [batch, {self.latent_dim}], decoder inputs "
          f"[batch, {self.num_features}]] to logits of shape [batch, "
          f"{expected[0]}, {expected[1]}], got {got}")
    keras.Model.build(self, input_shape)  # pylint: disable=bad-super-call

  def decoder_output_shape(self, event_shape):
    return self.likelihood.params_shape(event_shape)

  @property
  def kl_weight(self):
    return self.weighting.kl_weight(self.num_features, self.latent_dim)

  # ------------------------------------------------------------ data

  def check_ids(self, x, argument="x"):
    """x as int32 ids [N, T] padded to the model's length (once built).

    Raises DataError naming `argument` for a wrong shape, non-integer or
    non-finite values, ids outside [0, V) and sequences longer than the
    model's T.
    """
    values = np.asarray(x)
    if values.ndim != 2 or values.shape[0] == 0:
      raise DataError(f"{argument}: expected token ids of shape [N, T], got "
                      f"shape {values.shape}", params=(argument,))
    self.likelihood.check_data(values, argument)
    ids = values.astype(np.int32)
    length = self.max_length
    if length is not None:
      if ids.shape[1] > length:
        real = ids[:, length:] != self.pad_id
        if np.any(real):
          raise DataError(
              f"{argument}: sequences of {ids.shape[1]} tokens, longer than "
              f"the model's length T = {length}", params=(argument,))
        ids = ids[:, :length]
      elif ids.shape[1] < length:
        ids = np.pad(ids, ((0, 0), (0, length - ids.shape[1])),
                     constant_values=self.pad_id)
    return ids

  def _check_dataset(self, dataset, argument):
    spec = images_from_batch(dataset.element_spec)
    shape = tuple(spec.shape)
    if len(shape) != 2:
      raise DataError(f"{argument}: expected batches of token ids [batch, T], "
                      f"got shape {shape}", params=(argument,))
    if (self.max_length is not None and shape[1] is not None and
        shape[1] != self.max_length):
      raise DataError(f"{argument}: batches of length {shape[1]}, the model's "
                      f"length is T = {self.max_length}", params=(argument,))
    first = next(iter(dataset.take(1)), None)
    if first is not None:
      self.check_ids(images_from_batch(first).numpy(), argument)
    return shape

  def prepare(self, x, argument="x"):
    """Checks x (array or tf.data) and builds the model from its length;
    returns the (checked, padded) array or the data set."""
    if x is None:
      return x
    if isinstance(x, tf.data.Dataset):
      shape = self._check_dataset(x, argument)
      if not self.built:
        self.build((None, shape[1]))
      return x
    if isinstance(x, (tuple, list)):
      return type(x)([self.prepare(x[0], argument)] + list(x[1:]))
    ids = self.check_ids(x, argument)
    if not self.built:
      self.build((None, ids.shape[1]))
    return ids

  def fit(self, x=None, *args, validation_data=None, **kwargs):  # pylint: disable=keyword-arg-before-vararg
    x = self.prepare(x)
    validation_data = self.prepare(validation_data, "validation_data")
    return super().fit(x, *args, validation_data=validation_data, **kwargs)

  def evaluate(self, x=None, *args, **kwargs):  # pylint: disable=keyword-arg-before-vararg
    return super().evaluate(self.prepare(x), *args, **kwargs)

  # ------------------------------------------------------------ the model

  def decoder_inputs(self, ids, training=False):
    """The teacher-forced inputs: x shifted right behind the begin token,
    with word dropout when training."""
    ids = tf.cast(ids, tf.int32)
    batch = tf.shape(ids)[0]
    shifted = tf.concat(
        [tf.fill([batch, 1], self.bos_id), ids[:, :-1]], axis=1)
    if not training or self.word_dropout == 0.0:
      return shifted
    return apply_word_dropout(shifted, self.word_dropout,
                              self._word_dropout_uniform(shifted),
                              self.bos_id, self.pad_id, self.unk_id)

  def _word_dropout_uniform(self, tokens):
    """u ~ U(0, 1) per decoder input, a pure function of (seed, step),
    drawn for the global batch (each replica takes its rows)."""
    seed = seeds.fold(
        tf.stack([tf.constant(self.seed, tf.int64),
                  tf.cast(self.optimizer.iterations, tf.int64)]),
        WORD_DROPOUT_STREAM)
    local = tf.shape(tokens)[0]
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    bits = tf.random.stateless_uniform(
        tf.stack([local * replicas, tf.shape(tokens)[1]]), seed=seed,
        minval=None, maxval=None, dtype=tf.uint32, alg="philox")
    uniform = seeds.bits_to_unit_interval(bits)
    if replicas > 1:
      start = tf.cast(context.replica_id_in_sync_group, tf.int32) * local
      uniform = uniform[start:start + local]
    return uniform

  def encode(self, x, training=False):
    return super().encode(tf.cast(x, tf.int32), training=training)

  def decode_logits(self, z, tokens, training=False):
    """Logits [B, T, V] (float32) for decoder input tokens [B, T]."""
    return tf.cast(self.decoder([z, tf.cast(tokens, tf.int32)],
                                training=training), tf.float32)

  def teacher_forced_logits(self, x, z, training=False):
    """The decoder's logits for x given z, reading x's previous tokens."""
    return self.decode_logits(z, self.decoder_inputs(x, training=False),
                              training=training)

  def log_likelihood(self, x, z):
    """log p(x|z) per sentence (nats), padding excluded."""
    x = tf.cast(x, tf.float32)
    return self.likelihood.log_likelihood(
        x, self.teacher_forced_logits(x, z))

  def token_count(self, x):
    """[B] float32, the real tokens (words and end token) of each sentence."""
    return self.likelihood.feature_count(tf.cast(x, tf.float32))

  def call(self, x, training=False):
    """Teacher-forced logits [B, T, V] for x from its posterior mean."""
    z_mean, _ = self.encode(x, training=training)
    return self.teacher_forced_logits(x, z_mean, training=training)

  def compute_terms(self, x, training=False):
    self.ensure_built(x)
    ids = tf.cast(x, tf.int32)
    z_mean, z_log_variance = self.encode(ids, training=training)
    z = self.sample_posterior(z_mean, z_log_variance, training)
    logits = self.decode_logits(z, self.decoder_inputs(ids, training),
                                training=training)
    optimizer = getattr(self, "optimizer", None)
    step = optimizer.iterations if optimizer is not None else 0
    x = tf.cast(ids, tf.float32)
    result = objective_lib.objective(
        x, z_mean, z_log_variance, z, logits, self.likelihood,
        weighting=self.weighting, balancer=self.balancer, step=step,
        training=training, kl_estimator=self.kl_estimator)
    tokens = elbo.global_batch_mean(self.likelihood.feature_count(x))
    result["perplexity"] = tf.exp(result["neg_elbo"] /
                                  tf.maximum(tokens, 1.0))
    return result

  def own_trainable_variables(self):
    return self.balancer.own_trainable_variables

  def train_own(self, x, terms):
    del x
    step = tf.cast(self.optimizer.iterations, tf.int64)
    return self.balancer.train_own(terms["terms"], step)

  # ------------------------------------------------------------ generation

  def generate(self, z, max_length=None, temperature=0.0, seed=0):
    """Decodes token by token from z until the end token.

    Args:
      z: [n, J] latent codes.
      max_length: the most tokens per sentence (default: the model's T).
      temperature: 0 for greedy decoding (argmax), > 0 to sample from
        softmax(logits / temperature); padding and the begin token are
        never emitted.
      seed: the stateless seed of the sampled tokens.

    Returns:
      int32 [n, max_length]: the tokens, the end token included, padded
      with `pad_id` after it.
    """
    if not (isinstance(temperature, (int, float)) and temperature >= 0 and
            math.isfinite(temperature)):
      raise ValueError(f"temperature must be >= 0 (0 = greedy), got "
                       f"{temperature!r}")
    z = tf.convert_to_tensor(z, tf.float32)
    if z.shape.rank != 2 or (self.latent_dim is not None and
                             z.shape[-1] != self.latent_dim):
      raise ValueError(f"z must have shape [n, {self.latent_dim}], got "
                       f"{z.shape}")
    length = int(max_length or self.max_length or 0)
    if length < 1:
      raise ValueError(f"max_length must be >= 1, got {max_length!r}")
    count = int(z.shape[0])
    inputs = np.full((count, length), self.pad_id, np.int32)
    inputs[:, 0] = self.bos_id
    out = np.full((count, length), self.pad_id, np.int32)
    done = np.zeros(count, bool)
    # Padding and the begin token are never targets: never emit them.
    banned = np.zeros(self.vocab_size, np.float32)
    banned[[self.pad_id, self.bos_id]] = -np.inf
    for t in range(length):
      # The decoder is causal: positions after t do not change logits[:, t].
      logits = self.decode_logits(z, inputs)[:, t] + banned
      if temperature == 0:
        token = tf.argmax(logits, axis=-1, output_type=tf.int32)
      else:
        token = tf.random.stateless_categorical(
            logits / temperature, 1, seed=seeds.fold(seed, t),
            dtype=tf.int32)[:, 0]
      token = np.where(done, self.pad_id, token.numpy())
      out[:, t] = token
      done |= token == self.eos_id
      if done.all():
        break
      if t + 1 < length:
        inputs[:, t + 1] = token
    return out

  def sample(self, n, max_length=None, temperature=0.0, seed=0):
    """n sentences from z ~ N(0, I) (stateless in `seed`)."""
    z = seeds.normal([int(n), self.latent_dim], seeds.fold(seed, 0))
    return self.generate(z, max_length, temperature, seeds.fold(seed, 1))

  def reconstruct(self, x, max_length=None, temperature=0.0, seed=0):
    """Decodes x's posterior mean (greedy by default): int32 ids [N, T]."""
    ids = self.prepare(x)
    z_mean, _ = self.encode(ids)
    return self.generate(z_mean, max_length or self.max_length, temperature,
                         seed)

  def decode_mean(self, z):
    """The greedy sentence for z (float32 ids, the data's form)."""
    return tf.cast(self.generate(z), tf.float32)


def apply_word_dropout(tokens, rate, uniform, bos_id, pad_id, unk_id):
  """Replaces tokens by `unk_id` where uniform < rate, except the begin
  token and padding (Bowman et al. 2016; timbmg/Sentence-VAE)."""
  droppable = tf.logical_and(tf.not_equal(tokens, bos_id),
                             tf.not_equal(tokens, pad_id))
  drop = tf.logical_and(droppable, uniform < rate)
  return tf.where(drop, tf.fill(tf.shape(tokens), unk_id), tokens)
