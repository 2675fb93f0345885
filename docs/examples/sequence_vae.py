"""A Conv1D VAE on generated time series with known factors.

Each series is x_t,d = A sin(2 pi f t / T + phi + d * 0.7) on T steps and D
channels, with three factors drawn per series: frequency f, phase phi and
amplitude A. Values lie in [-1, 1], so the Gaussian decoder's mean is
unconstrained (tfvae detects the range: `mean="auto"`), and its sigma is
learned (sigma-VAE: the KL weight by maximum likelihood).

The encoder returns one tensor of 2 x latent_dim (mean first), the usual
Keras way. At the end the script prints the weight in every unit and, for
each factor, the latent dimension whose posterior mean correlates most with
it (Spearman), a direct look at what the code learned.

    python docs/examples/sequence_vae.py --epochs=40
"""

import argparse

import keras
import numpy as np
from keras import layers
from scipy import stats

import tfvae

T, D = 64, 3


def sinusoids(n, seed=0):
  """(series [n, T, D] float32, factors {name: [n]})."""
  rng = np.random.RandomState(seed)
  factors = {"frequency": rng.uniform(1.0, 4.0, n),
             "phase": rng.uniform(0.0, 2 * np.pi, n),
             "amplitude": rng.uniform(0.3, 1.0, n)}
  t = np.arange(T)[None, :, None] / T
  channel = np.arange(D)[None, None, :] * 0.7
  x = factors["amplitude"][:, None, None] * np.sin(
      2 * np.pi * factors["frequency"][:, None, None] * t +
      factors["phase"][:, None, None] + channel)
  return x.astype(np.float32), factors


def build_networks(latent_dim):
  encoder = keras.Sequential([
      keras.Input((T, D)),
      layers.Conv1D(32, 5, strides=2, padding="same", activation="relu"),
      layers.Conv1D(64, 5, strides=2, padding="same", activation="relu"),
      layers.Flatten(),
      layers.Dense(64, activation="relu"),
      layers.Dense(2 * latent_dim),  # [mean | log variance]
  ], name="encoder")
  decoder = keras.Sequential([
      keras.Input((latent_dim,)),
      layers.Dense(64, activation="relu"),
      layers.Dense((T // 4) * 64, activation="relu"),
      layers.Reshape((T // 4, 64)),
      layers.Conv1DTranspose(32, 5, strides=2, padding="same",
                             activation="relu"),
      layers.Conv1DTranspose(D, 5, strides=2, padding="same"),
  ], name="decoder")
  return encoder, decoder


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--examples", type=int, default=2048)
  parser.add_argument("--epochs", type=int, default=40)
  parser.add_argument("--latent_dim", type=int, default=4)
  args = parser.parse_args()
  keras.utils.set_random_seed(0)
  x, factors = sinusoids(args.examples)
  split = int(0.9 * len(x))
  encoder, decoder = build_networks(args.latent_dim)
  vae = tfvae.VAE(encoder, decoder,
                  likelihood=tfvae.likelihoods.Gaussian(sigma="learned"))
  vae.compile(optimizer=keras.optimizers.Adam(1e-3))
  vae.fit(x[:split], validation_data=x[split:], epochs=args.epochs,
          batch_size=64, verbose=2)

  result = tfvae.evaluate(vae, x[split:])
  sigma2 = vae.likelihood.shared_sigma2()
  weight = vae.weighting.report(vae.num_features, vae.latent_dim, sigma2)
  print(f"validation -ELBO {result['neg_elbo']:.2f} nats "
        f"({result['bits_per_dim']:.4f} bits/dim), rate "
        f"{result['rate']:.2f}, distortion {result['distortion']:.2f}, "
        f"active units {result['active_units']}/{result['latent_dim']}")
  print(f"mean: {vae.likelihood.mean_function}; learned sigma "
        f"{sigma2 ** 0.5:.4f}; weight: beta_eff {weight['beta_eff']:g}, "
        f"beta_norm {weight['beta_norm']:.5f}, beta in L2/sum units "
        f"{weight['beta_l2']:.5f}")
  z_mean, _ = vae.encode(x[split:])
  for name, values in factors.items():
    rho = [abs(stats.spearmanr(z_mean[:, j], values[split:])[0])
           for j in range(args.latent_dim)]
    best = int(np.nanargmax(rho))
    print(f"factor {name:9s}: best latent {best}, |Spearman rho| "
          f"{rho[best]:.2f}")


if __name__ == "__main__":
  main()
