"""A line-for-line TF2 port of the loss in the question that tfvae answers.

The question ("How to weight KLD loss vs reconstruction loss in variational
auto-encoder", Cross Validated, quoted in the project's seed material) writes,
in TF1:

    kl_loss = -0.5 * tf.reduce_sum(1 + log_sigma_sq - tf.square(mu)
                                   - tf.exp(log_sigma_sq), axis=1)
    rec_loss = tf.reduce_sum(tf.squared_difference(y, x), axis=[1,2,3])
    # or binary cross entropy (assuming 0...1 values)
    y = tf.clip_by_value(y, 1e-8, 1-1e-8)
    rec_loss = -tf.reduce_sum(x * tf.log(y) + (1-x) * tf.log(1-y), axis=[1,2,3])
    loss = tf.reduce_mean(kl_loss + rec_loss)

`question_loss` is that code with the TF2 names (`tf.math.squared_difference`,
`tf.math.log`) and nothing else changed. Summed squared error is the negative
log-likelihood of a Gaussian with fixed variance 1/2 minus the constant
(K/2) log(pi); the clipped BCE is the Bernoulli negative log-likelihood of
probabilities y. `question_distortion` adds that constant back so the port's
numbers can be reported in nats like every other tfvae objective.

A pitfall kept on purpose (it is the question's code): in float32,
1 - 1e-8 rounds to 1, so the upper clip does nothing and a saturated y = 1
on a pixel with x < 1 gives an infinite BCE. tfvae's `bernoulli` likelihood
works on logits and has no such edge.
"""

import math

import tensorflow as tf

BCE_CLIP = 1e-8


def question_loss(x, y, mu, log_sigma_sq, rec="l2"):
  """The question's loss; returns (loss, per-example kl_loss, per-example rec_loss).

  Args:
    x: the input images, [batch, H, W, C].
    y: the decoder's output probabilities / means, same shape as x.
    mu: posterior means, [batch, J].
    log_sigma_sq: posterior log variances, [batch, J].
    rec: "l2" (summed squared difference) or "bce" (clipped, summed).
  """
  kl_loss = -0.5 * tf.reduce_sum(
      1 + log_sigma_sq - tf.square(mu) - tf.exp(log_sigma_sq), axis=1)
  if rec == "l2":
    rec_loss = tf.reduce_sum(tf.math.squared_difference(y, x), axis=[1, 2, 3])
  elif rec == "bce":
    y = tf.clip_by_value(y, BCE_CLIP, 1 - BCE_CLIP)
    rec_loss = -tf.reduce_sum(
        x * tf.math.log(y) + (1 - x) * tf.math.log(1 - y), axis=[1, 2, 3])
  else:
    raise ValueError(f"rec must be 'l2' or 'bce', got {rec!r}")
  loss = tf.reduce_mean(kl_loss + rec_loss)
  return loss, kl_loss, rec_loss


def question_distortion(rec_loss, num_features, rec="l2"):
  """The port's reconstruction loss as a negative log-likelihood in nats.

  For L2: -log N(x; y, 1/2) summed over K features = SSE + (K/2) log(pi).
  For BCE: the clipped BCE already is the Bernoulli NLL.
  """
  if rec == "l2":
    return rec_loss + 0.5 * num_features * math.log(math.pi)
  return rec_loss
