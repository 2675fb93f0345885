"""The serving graph of the sentence VAE (`tfvae.models.sequence.SequenceVAE`).

Bowman et al. 2016, "Generating Sentences from a Continuous Space": the
encoder maps token ids to q(z|x) = N(mean, diag(exp(log_variance))) and the
decoder models p(x|z) = prod_t Categorical(x_t; softmax(f(z, x_<t))), reading
the previous tokens behind the begin token. Signatures (B = batch, T = the
trained length, J = latent dimensions, V = vocabulary; `ids` are int32 token
ids, words then the end token then padding; `assets/vocab.txt` holds the V
tokens, one per line, line i = id i):

- `serving_default`, `encode`: ids [B, T'] (any T') -> z_mean,
  z_log_variance [B, J] and one posterior sample z.
- `decode`: z [B, J] -> `ids` [B, T] of the greedy sentence (argmax at each
  step, padding and the begin token never emitted, padding after the end
  token) and `logits` [B, T, V], the decoder's logits for those ids (the ones
  each greedy step chose from).
- `teacher_forced`: z [B, J], ids [B, T'] -> `logits` [B, T', V] of
  p(x_t | z, x_<t) for the given sentence.
- `generate`: num_samples (int32 scalar), temperature (float32 scalar) ->
  `ids` [num_samples, T] decoded from z ~ N(0, I) (temperature 0: greedy;
  > 0: sampled from softmax(logits / temperature)) and the `z` used. The
  noise is seeded afresh by each server process.
- `elbo`: ids [B, T'] -> per-sentence `neg_elbo` = distortion + rate (nats),
  rate = KL(q(z|x) || N(0, I)) in closed form, distortion = -E_q[log p(x|z)]
  over `ELBO_SAMPLES` fixed posterior draws (common random numbers, as
  `tfvae.export.saved_model`), and `tokens`, the real tokens (words and
  the end token) that per-token perplexity divides by:
  perplexity = exp(sum neg_elbo / sum tokens).

The graphs need only TensorFlow to run (`tf.saved_model.load`,
`saved_model_cli run`, TF Serving).
"""

import tensorflow as tf

from tfvae.export import signatures as signatures_lib
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib

# Stands for -inf on the logits of tokens never emitted (padding, begin).
_BANNED_LOGIT = -1e9


def elbo_scores(model, ids):
  """Per-sentence neg_elbo, rate, distortion and tokens (see module doc)."""
  x = tf.cast(ids, tf.float32)
  z_mean, z_log_variance = model.encode(ids)
  rate = tf.reduce_sum(kl_lib.gaussian_kl(z_mean, z_log_variance), axis=-1)
  epsilon = signatures_lib.elbo_epsilon(model.latent_dim)

  def sample_log_likelihood(eps):
    return model.log_likelihood(x, kl_lib.reparameterize(
        z_mean, z_log_variance, eps[None, :]))

  log_liks = tf.map_fn(sample_log_likelihood, epsilon,
                       fn_output_signature=tf.TensorSpec([None], tf.float32))
  distortion = -tf.reduce_mean(log_liks, axis=0)
  return {"neg_elbo": elbo.neg_elbo(distortion, rate), "rate": rate,
          "distortion": distortion, "tokens": model.token_count(x)}


def decode_tokens(model, z, temperature=None):
  """int32 ids [B, T] decoded from z token by token, in graph mode.

  Greedy when `temperature` is None or 0, else sampled from
  softmax(logits / temperature) with fresh noise. Stops when every sentence
  has emitted the end token.
  """
  length = model.max_length
  batch = tf.shape(z)[0]
  banned = tf.tensor_scatter_nd_update(
      tf.zeros([model.vocab_size]), [[model.pad_id], [model.bos_id]],
      [_BANNED_LOGIT, _BANNED_LOGIT])
  pad = tf.fill([batch, length], model.pad_id)
  inputs = tf.concat([tf.fill([batch, 1], model.bos_id), pad[:, 1:]], axis=1)

  def step(t, inputs, out, done):
    logits = model.decode_logits(z, inputs)[:, t] + banned
    token = tf.argmax(logits, axis=-1, output_type=tf.int32)
    if temperature is not None:
      sampled = tf.cast(tf.raw_ops.Multinomial(
          logits=logits / tf.maximum(temperature, 1e-6), num_samples=1,
          seed=0, seed2=0, output_dtype=tf.int64)[:, 0], tf.int32)
      token = tf.where(temperature > 0, sampled, token)
    token = tf.where(done, model.pad_id, token)
    at_t = tf.equal(tf.range(length), t)[None, :]
    out = tf.where(at_t, token[:, None], out)
    following = tf.equal(tf.range(length), t + 1)[None, :]
    inputs = tf.where(following, token[:, None], inputs)
    return t + 1, inputs, out, done | tf.equal(token, model.eos_id)

  def not_finished(t, inputs, out, done):
    del inputs, out
    return tf.logical_and(t < length,
                          tf.logical_not(tf.reduce_all(done)))

  _, _, out, _ = tf.while_loop(
      not_finished, step,
      (tf.constant(0), inputs, pad, tf.zeros([batch], tf.bool)))
  return out


def build_serving_module(model):
  """A `tf.Module` with the signatures above; returns (module, signatures)."""
  latent = model.latent_dim
  ids_spec = tf.TensorSpec([None, None], tf.int32, name="ids")
  z_spec = tf.TensorSpec([None, latent], tf.float32, name="z")
  module = tf.Module(name="tfvae_sequence_serving")

  @tf.function(input_signature=[ids_spec], autograph=False)
  def encode(ids):
    z_mean, z_log_variance = model.encode(ids)
    z = kl_lib.reparameterize(z_mean, z_log_variance,
                              signatures_lib.fresh_normal(tf.shape(z_mean)))
    return {"z_mean": z_mean, "z_log_variance": z_log_variance, "z": z}

  @tf.function(input_signature=[z_spec], autograph=False)
  def decode(z):
    ids = decode_tokens(model, z)
    return {"ids": ids,
            "logits": model.decode_logits(z, model.decoder_inputs(ids))}

  @tf.function(input_signature=[z_spec, ids_spec], autograph=False)
  def teacher_forced(z, ids):
    return {"logits": model.decode_logits(z, model.decoder_inputs(ids))}

  @tf.function(input_signature=[
      tf.TensorSpec([], tf.int32, name="num_samples"),
      tf.TensorSpec([], tf.float32, name="temperature")], autograph=False)
  def generate(num_samples, temperature):
    checks = [tf.debugging.assert_non_negative(
                  num_samples, message="num_samples must be >= 0"),
              tf.debugging.assert_non_negative(
                  temperature, message="temperature must be >= 0")]
    with tf.control_dependencies(checks):
      z = signatures_lib.fresh_normal(tf.stack([num_samples, latent]))
    return {"ids": decode_tokens(model, z, temperature), "z": z}

  @tf.function(input_signature=[ids_spec], autograph=False)
  def elbo(ids):
    return elbo_scores(model, ids)

  endpoints = {"encode": encode, "decode": decode,
               "teacher_forced": teacher_forced, "generate": generate,
               "elbo": elbo}
  for name, fn in endpoints.items():
    setattr(module, name, fn)
  signatures = {name: fn.get_concrete_function()
                for name, fn in endpoints.items()}
  module.model_variables = signatures_lib.captured_variables(signatures.values())
  signatures["serving_default"] = signatures["encode"]
  return module, signatures
