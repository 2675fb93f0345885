"""FactorVAE: a discriminator's estimate of the total correlation, penalised.

Kim & Mnih 2018 ("Disentangling by Factorising", eq. 2 and Algorithm 1)
penalise the total correlation TC(z) = KL(q(z) || q_bar(z)), q_bar(z) =
prod_j q(z_j), with the density-ratio trick: a discriminator D(z) (the
probability that z comes from q(z) rather than from q_bar(z)) gives

    TC(z) ~ E_q(z)[log D(z) - log(1 - D(z))] = E_q(z)[logit D(z)].

Samples of q_bar(z) are the batch's samples z_i ~ q(z|x_i) with each dimension
permuted independently across the batch. Per example, in the `Weighting`
convention:

    loss_i = rec_i + w kl_i + gamma logit D(z_i) / J_r

with w the `Weighting`'s KL weight (`terms.kl_weight`, 1 by default) and the
TC term divided by J_r like the KL, so that with sums (the default) it is the
paper's loss. The gradient reaches the encoder through z; D's own variables
are `own_trainable_variables`, which the VAE's optimiser leaves alone.

After the VAE's update, `train_own` takes one step of D's own optimiser on the
same batch (stopped gradients): the cross-entropy with z labelled 1 and the
permuted z labelled 0,

    L_D = 1/2 mean_i softplus(-logit D(z_i)) + 1/2 mean_i softplus(logit D(z~_i)).

disentanglement_lib uses the same batch for both, as here; the paper's
Algorithm 1 draws a second batch for the permuted samples.

Defaults are the paper's: D an MLP of 6 hidden layers of 1000 units with
leaky ReLU (slope 0.2), Adam with learning rate 1e-4, beta_1 = 0.5, beta_2 =
0.9; gamma = 35 (the paper's value for dSprites; disentanglement_lib sweeps
10..100). D's weights and its optimiser's state are attributes of this layer,
so the model's checkpoints save and restore them.

The permutation is a pure function of (seed, step), so `balance` logs the
discriminator loss on exactly the permutation `train_own` then trains on, and
a resumed run permutes as the uninterrupted one.

beta_eff = w K_r / J_r, the weight on the KL (the TC penalty is extra; its
weight in ELBO units is gamma K_r / J_r). Only the default (single device)
strategy is supported: D's update runs in the replica's context.
"""

import dataclasses

import keras
import tensorflow as tf

from tfvae.balancing.base import Balanced, Balancer, Terms, register
from tfvae.balancing.beta_tcvae import check_weight
from tfvae.errors import ConfigError
from tfvae.settings import non_negative_finite
from tfvae.settings import option
from tfvae.settings import positive_int

DEFAULT_GAMMA = 35.0
DEFAULT_UNITS = 1000
DEFAULT_LAYERS = 6
LEAKY_RELU_SLOPE = 0.2
DEFAULT_LEARNING_RATE = 1e-4
DEFAULT_BETA_1 = 0.5
DEFAULT_BETA_2 = 0.9
# Mixed into the seed so the permutation does not reuse the stream of the
# posterior noise, which the model also draws from (seed, step).
_SEED_SALT = 0x5EED_FAC7


def permute_dims(z, seed):
  """z with each column permuted independently across the batch.

  Args:
    z: [B, J] samples of q(z).
    seed: [2] integer tensor, the stateless seed.

  Returns:
    [B, J] samples of prod_j q(z_j) (Kim & Mnih 2018, Algorithm 1).
  """
  keys = tf.random.stateless_uniform(tf.shape(z), seed=seed)
  order = tf.argsort(keys, axis=0)  # [B, J]: a permutation per column.
  columns = tf.gather(tf.transpose(z), tf.transpose(order), batch_dims=1)
  return tf.transpose(columns)


def discriminator_loss(logits_real, logits_permuted):
  """L_D: the mean cross-entropy, q(z) labelled 1 and q_bar(z) labelled 0."""
  return 0.5 * (tf.reduce_mean(tf.nn.softplus(-logits_real)) +
                tf.reduce_mean(tf.nn.softplus(logits_permuted)))


def make_discriminator(latent_dim, units=DEFAULT_UNITS, layers=DEFAULT_LAYERS):
  """D: `layers` x `units` Dense + leaky ReLU, then one logit; float32, built."""
  stack = []
  for i in range(layers):
    stack.append(keras.layers.Dense(units, dtype="float32",
                                    name=f"discriminator_hidden_{i}"))
    stack.append(keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE,
                                        dtype="float32"))
  stack.append(keras.layers.Dense(1, dtype="float32",
                                  name="discriminator_logit"))
  discriminator = keras.Sequential(stack, name="discriminator")
  discriminator.build((None, latent_dim))
  return discriminator


@dataclasses.dataclass
class FactorVAESettings:
  """FactorVAE's command-line settings."""

  factorvae_gamma: float = option(
      DEFAULT_GAMMA, "FactorVAE: weight on the discriminator's total "
      "correlation estimate (Kim & Mnih: 35 on dSprites).")
  factorvae_units: int = option(DEFAULT_UNITS, "FactorVAE: width of the "
                                "discriminator's hidden layers (Kim & Mnih: "
                                "1000).")
  factorvae_layers: int = option(DEFAULT_LAYERS, "FactorVAE: hidden layers "
                                 "of the discriminator (Kim & Mnih: 6).")


@register("factorvae")
class FactorVAE(Balancer):
  """loss = rec + w kl + gamma logit D(z) / J_r, D trained by its own Adam.

  Args:
    latent_dim: J, the size of z (D is built at once, so its variables and
      its optimiser's exist before the first checkpoint or restore).
    gamma: weight on the TC estimate (default 35, Kim & Mnih on dSprites).
    discriminator_units: width of D's hidden layers (paper: 1000).
    discriminator_layers: number of D's hidden layers (paper: 6).
    learning_rate, beta_1, beta_2: D's Adam (paper: 1e-4, 0.5, 0.9).
    seed: seed of the dimension permutations.
  """

  scalar_names = ("factorvae_tc", "factorvae_discriminator_loss")
  Settings = FactorVAESettings
  weights_kl_parts = True
  label = "FactorVAE"
  citation = "Kim & Mnih"
  weight_settings = ("factorvae_gamma",)

  def __init__(self, latent_dim, gamma=DEFAULT_GAMMA,
               discriminator_units=DEFAULT_UNITS,
               discriminator_layers=DEFAULT_LAYERS,
               learning_rate=DEFAULT_LEARNING_RATE, beta_1=DEFAULT_BETA_1,
               beta_2=DEFAULT_BETA_2, seed=0, **kwargs):
    super().__init__(**kwargs)
    for name, value in (("latent_dim", latent_dim),
                        ("discriminator_units", discriminator_units),
                        ("discriminator_layers", discriminator_layers)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
      raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    self.gamma = check_weight("gamma", gamma)
    self.latent_dim = latent_dim
    self.discriminator_units = discriminator_units
    self.discriminator_layers = discriminator_layers
    self.seed = seed
    self.discriminator = make_discriminator(latent_dim, discriminator_units,
                                            discriminator_layers)
    self.discriminator_optimizer = keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)
    self.discriminator_optimizer.build(self.own_trainable_variables)

  @classmethod
  def from_config_section(cls, section, context):
    return cls(context.latent_dim, gamma=section.factorvae_gamma,
               discriminator_units=section.factorvae_units,
               discriminator_layers=section.factorvae_layers,
               seed=context.seed)

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    non_negative_finite("factorvae_gamma", section.factorvae_gamma)
    positive_int("factorvae_units", section.factorvae_units)
    positive_int("factorvae_layers", section.factorvae_layers)

  @classmethod
  def check_config(cls, config):
    if config.runtime.strategy != "default":
      raise ConfigError("balancer=factorvae trains its discriminator on one "
                        f"device only; strategy={config.runtime.strategy} is "
                        "not supported yet, use strategy=default",
                        params=("balancer", "strategy"))

  @property
  def own_trainable_variables(self):
    return list(self.discriminator.trainable_variables)

  def logits(self, z):
    """logit D(z), [B]."""
    return self.discriminator(tf.cast(z, tf.float32))[:, 0]

  def _permutation_seed(self, step):
    return tf.stack([tf.constant(self.seed + _SEED_SALT, tf.int64),
                     tf.cast(step, tf.int64)])

  def balance(self, terms: Terms, step, training) -> Balanced:
    del training  # D is trained in `train_own`; nothing to update here.
    logits = self.logits(terms.z)
    dtype = terms.rec.dtype
    tc_per_example = tf.cast(logits, dtype)
    weight = tf.cast(terms.kl_weight, dtype)
    per_example = (terms.rec + weight * terms.kl +
                   self.gamma * tc_per_example / terms.kl_divisor)
    z = tf.stop_gradient(terms.z)
    logged_loss = tf.stop_gradient(discriminator_loss(
        self.logits(z),
        self.logits(permute_dims(z, self._permutation_seed(step)))))
    return Balanced(
        per_example=per_example,
        kl_weight=weight,
        beta_eff=weight * terms.rec_divisor / terms.kl_divisor,
        scalars={"factorvae_tc": tf.reduce_mean(tc_per_example),
                 "factorvae_discriminator_loss": logged_loss})

  def train_own(self, terms: Terms, step):
    z = tf.stop_gradient(tf.cast(terms.z, tf.float32))
    permuted = permute_dims(z, self._permutation_seed(step))
    variables = self.own_trainable_variables
    with tf.GradientTape() as tape:
      loss = discriminator_loss(self.logits(z), self.logits(permuted))
    gradients = tape.gradient(loss, variables)
    self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
    return {"factorvae_discriminator_loss": loss}

  def get_config(self):
    adam = self.discriminator_optimizer.get_config()
    return {**super().get_config(), "latent_dim": self.latent_dim,
            "gamma": self.gamma,
            "discriminator_units": self.discriminator_units,
            "discriminator_layers": self.discriminator_layers,
            "learning_rate": adam["learning_rate"], "beta_1": adam["beta_1"],
            "beta_2": adam["beta_2"], "seed": self.seed}
