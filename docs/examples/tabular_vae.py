"""A tabular VAE on a data set scikit-learn ships (breast cancer, 30 features).

Standardised real-valued features ([N, 30] vectors), an MLP encoder that
returns (mean, log variance) and a Gaussian decoder with one learned sigma per
feature (`learned_channel`: the last axis of a [D] vector is its features).
The loss is written the way many tabular VAEs write it, mean squared error
and mean KL with weight 0.1, and tfvae states what that means in every unit.

    python docs/examples/tabular_vae.py --epochs=100
"""

import argparse

import keras
import numpy as np
from keras import layers
from sklearn import datasets
from sklearn import preprocessing

import tfvae


def build_networks(features, latent_dim, hidden=64):
  x = keras.Input((features,))
  h = layers.Dense(hidden, activation="relu")(x)
  h = layers.Dense(hidden, activation="relu")(h)
  encoder = keras.Model(x, [layers.Dense(latent_dim)(h),
                            layers.Dense(latent_dim)(h)], name="encoder")
  decoder = keras.Sequential([
      keras.Input((latent_dim,)),
      layers.Dense(hidden, activation="relu"),
      layers.Dense(hidden, activation="relu"),
      layers.Dense(features),
  ], name="decoder")
  return encoder, decoder


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--epochs", type=int, default=100)
  parser.add_argument("--latent_dim", type=int, default=5)
  args = parser.parse_args()
  keras.utils.set_random_seed(0)
  x = datasets.load_breast_cancer().data
  order = np.random.RandomState(0).permutation(len(x))
  x = x[order]
  split = int(0.8 * len(x))
  scaler = preprocessing.StandardScaler().fit(x[:split])
  x = scaler.transform(x).astype(np.float32)

  encoder, decoder = build_networks(x.shape[1], args.latent_dim)
  weighting = tfvae.Weighting(rec="mean", kl="mean", beta=0.1)
  vae = tfvae.VAE(encoder, decoder,
                  likelihood=tfvae.likelihoods.Gaussian("learned_channel"),
                  weighting=weighting)
  vae.compile(optimizer=keras.optimizers.Adam(1e-3))
  vae.fit(x[:split], validation_data=x[split:], epochs=args.epochs,
          batch_size=32, verbose=0)

  result = tfvae.evaluate(vae, x[split:])
  weight = weighting.report(vae.num_features, vae.latent_dim)
  print(f"held-out -ELBO {result['neg_elbo']:.2f} nats "
        f"({result['bits_per_dim']:.4f} bits/dim), rate {result['rate']:.2f}, "
        f"distortion {result['distortion']:.2f}, active units "
        f"{result['active_units']}/{result['latent_dim']}")
  print(f"'mean/mean, weight 0.1' is beta_norm {weight['beta_norm']:g} = "
        f"beta_eff {weight['beta_eff']:g} on summed terms "
        f"(K = {vae.num_features} features, J = {vae.latent_dim} latents)")
  sigma = np.exp(tfvae.likelihoods.softclip(
      vae.likelihood.raw_log_sigma).numpy())
  print(f"learned sigma per feature (standardised units): min "
        f"{sigma.min():.3f}, median {np.median(sigma):.3f}, max "
        f"{sigma.max():.3f}")


if __name__ == "__main__":
  main()
