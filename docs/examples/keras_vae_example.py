"""The official Keras VAE example, made calibrated or beta-annealed with tfvae.

This is the keras-io example "Variational AutoEncoder" (Keras 3,
examples/generative/vae.py) as its users write it: a conv encoder that
returns (z_mean, z_log_var, z), a conv decoder, and a `VAE(keras.Model)`
whose `train_step` adds the summed binary cross-entropy and the summed KL.
Three lines change (marked `[tfvae k/3]`):

1. `import tfvae`;
2. the decoder's last layer returns unconstrained values (tfvae's
   likelihoods take logits / pre-sigmoid means) instead of sigmoid outputs;
3. `vae = VAE(encoder, decoder)` becomes a `tfvae.VAE` with a stated
   likelihood and balancer (the example's `VAE` class and `Sampling` layer
   stay, unused):
   - `--variant=calibrated`: a Gaussian decoder with a learned sigma
     (sigma-VAE, Rybkin et al. 2021): the KL weight is learned by maximum
     likelihood instead of fixed by the BCE's implicit scale;
   - `--variant=annealed`: the example's own objective (Bernoulli = BCE,
     beta 1) with a linear KL warm-up (Bowman et al. 2016), computed inside
     every step.

The data: MNIST downloads, so this runs on scikit-learn's 8x8 digits resized
to the example's 28x28 (offline). Every run prints the weight in every unit.

    python docs/examples/keras_vae_example.py --variant=calibrated
    python docs/examples/keras_vae_example.py --variant=annealed --epochs=30
"""

import argparse

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from sklearn import datasets

import tfvae  # [tfvae 1/3]


class Sampling(layers.Layer):
  """The example's reparameterisation layer (unused by tfvae, kept as is)."""

  def call(self, inputs):
    z_mean, z_log_var = inputs
    epsilon = keras.random.normal(shape=tf.shape(z_mean))
    return z_mean + tf.exp(0.5 * z_log_var) * epsilon


def build_networks(latent_dim=2):
  """The example's encoder and decoder."""
  encoder_inputs = keras.Input(shape=(28, 28, 1))
  x = layers.Conv2D(32, 3, activation="relu", strides=2,
                    padding="same")(encoder_inputs)
  x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
  x = layers.Flatten()(x)
  x = layers.Dense(16, activation="relu")(x)
  z_mean = layers.Dense(latent_dim, name="z_mean")(x)
  z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
  z = Sampling()([z_mean, z_log_var])
  encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z],
                        name="encoder")

  latent_inputs = keras.Input(shape=(latent_dim,))
  x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
  x = layers.Reshape((7, 7, 64))(x)
  x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2,
                             padding="same")(x)
  x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2,
                             padding="same")(x)
  decoder_outputs = layers.Conv2DTranspose(1, 3, padding="same")(x)  # [tfvae 2/3]
  decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
  return encoder, decoder


def digits_28x28(n=None):
  """scikit-learn's digits in [0, 1], resized to 28x28x1."""
  images = datasets.load_digits().images[:n, :, :, None] / 16.0
  return tf.image.resize(images, (28, 28)).numpy().clip(0, 1).astype(
      np.float32)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variant", choices=("calibrated", "annealed"),
                      default="calibrated")
  parser.add_argument("--epochs", type=int, default=30)
  parser.add_argument("--examples", type=int, default=None)
  parser.add_argument("--warmup_steps", type=int, default=200)
  args = parser.parse_args()
  keras.utils.set_random_seed(0)
  data = digits_28x28(args.examples)
  encoder, decoder = build_networks()

  # The third change, one line in a user's copy of the example; this script
  # keeps both variants behind --variant:
  #   vae = tfvae.VAE(encoder, decoder, likelihood=tfvae.likelihoods.Gaussian("learned", mean="sigmoid"))
  #   vae = tfvae.VAE(encoder, decoder, likelihood=tfvae.likelihoods.Bernoulli(), balancer=tfvae.balancers.Linear(warmup_steps=2000))
  variants = {
      "calibrated": {"likelihood": tfvae.likelihoods.Gaussian(
          "learned", mean="sigmoid")},
      "annealed": {"likelihood": tfvae.likelihoods.Bernoulli(),
                   "balancer": tfvae.balancers.Linear(
                       warmup_steps=args.warmup_steps)},
  }
  vae = tfvae.VAE(encoder, decoder, **variants[args.variant])  # [tfvae 3/3] was: vae = VAE(encoder, decoder)

  vae.compile(optimizer=keras.optimizers.Adam())
  vae.fit(data, epochs=args.epochs, batch_size=128, verbose=2)

  result = tfvae.evaluate(vae, data)
  print(f"{args.variant}: -ELBO {result['neg_elbo']:.2f} nats "
        f"({result['bits_per_dim']:.4f} bits/dim), rate {result['rate']:.2f}, "
        f"distortion {result['distortion']:.2f}, active units "
        f"{result['active_units']}/{result['latent_dim']}")
  if args.variant == "calibrated":
    sigma2 = vae.likelihood.shared_sigma2()
    print(f"learned sigma {sigma2 ** 0.5:.4f}: the KL weight in the "
          f"question's L2/sum units is 2 sigma^2 = "
          f"{tfvae.Weighting().beta_l2(vae.num_features, vae.latent_dim, sigma2):.5f}")
  else:
    # The weight of the last training step, as the balancer computed it.
    print(f"KL weight at the last step: beta_eff "
          f"{float(vae.last_batch['beta_eff'].numpy()):g}, beta_norm "
          f"{float(vae.last_batch['beta_norm'].numpy()):.5f}")


if __name__ == "__main__":
  main()
