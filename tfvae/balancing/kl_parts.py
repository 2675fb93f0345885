"""The balancers that weight parts of the KL, and their arguments from a config.

The averaged KL is index-code MI + total correlation + dimension-wise KL
(`tfvae.objectives.decomposition`); these methods weight the parts:

- `beta_tcvae` (Chen et al. 2018): alpha MI + beta TC + gamma dimKL;
- `factorvae` (Kim & Mnih 2018): KL + gamma TC, the TC from a discriminator;
- `dip_vae_i`, `dip_vae_ii` (Kumar et al. 2018): KL + a penalty pushing the
  covariance of the posterior means (I) or of the aggregate posterior (II)
  to the identity.

`balancer_kwargs(config, dataset_size)` turns a run's configuration (any
object with the flat field names: `tc_alpha`, `tc_beta`, `tc_gamma`,
`tc_estimator`, `factorvae_gamma`, `factorvae_units`, `factorvae_layers`,
`dip_lambda_od`, `dip_lambda_d`, `latent_dim`, `seed`) into the keyword
arguments of `tfvae.balancing.base.get(config.balancer, **kwargs)`.
"""

# Importing the modules registers their balancers.
from tfvae.balancing import beta_tcvae  # pylint: disable=unused-import
from tfvae.balancing import dip_vae
from tfvae.balancing import factorvae  # pylint: disable=unused-import

BALANCERS = ("beta_tcvae", "factorvae", "dip_vae_i", "dip_vae_ii")


def balancer_kwargs(config, dataset_size):
  """Constructor arguments of `config.balancer` (one of `BALANCERS`).

  Args:
    config: the run's configuration (flat field names, see the module doc).
    dataset_size: N, the number of training examples (beta-TCVAE's
      estimator of q(z) averages over them).
  """
  name = config.balancer
  if name == "beta_tcvae":
    return {"dataset_size": int(dataset_size), "alpha": config.tc_alpha,
            "beta": config.tc_beta, "gamma": config.tc_gamma,
            "estimator": config.tc_estimator}
  if name == "factorvae":
    return {"latent_dim": config.latent_dim, "gamma": config.factorvae_gamma,
            "discriminator_units": config.factorvae_units,
            "discriminator_layers": config.factorvae_layers,
            "seed": config.seed}
  if name in ("dip_vae_i", "dip_vae_ii"):
    lambda_d = config.dip_lambda_d
    if lambda_d is None:
      variant = name.rsplit("_", 1)[1]
      lambda_d = dip_vae.LAMBDA_D_FACTOR[variant] * config.dip_lambda_od
    return {"lambda_od": config.dip_lambda_od, "lambda_d": lambda_d}
  raise ValueError(f"balancer must be one of {', '.join(BALANCERS)}, got "
                   f"{name!r}")
