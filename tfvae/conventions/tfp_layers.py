"""TFP's probabilistic-layers VAE (tensorflow/probability,
`tensorflow_probability/examples/jupyter_notebooks/Probabilistic_Layers_VAE.ipynb`;
the KL layers of `tfp.layers.distribution_layer`, TFP 0.25 with tf_keras).

The example's model:

    encoder = Sequential([..., Dense(MultivariateNormalTriL.params_size(16)),
        tfpl.MultivariateNormalTriL(16,
            activity_regularizer=tfpl.KLDivergenceRegularizer(prior))])
    decoder = Sequential([..., Flatten(),
        tfpl.IndependentBernoulli((28, 28, 1), tfd.Bernoulli.logits)])
    vae.compile(optimizer=..., loss=lambda x, rv_x: -rv_x.log_prob(x))

How its terms reach the loss:

- the loss `-rv_x.log_prob(x)` is the Bernoulli NLL summed over the event
  (`IndependentBernoulli`), which Keras averages over the batch;
- both KL layers compute w KL_i per example and return their batch total
  (`_make_kl_divergence_fn`: `reduce_sum(..., name="batch_total_kl_divergence")`);
- `KLDivergenceRegularizer(prior, weight=w)` is an activity regularizer:
  tf_keras divides an activity regularizer's value by the batch size
  (`Layer._handle_activity_regularization`), but applies it to every
  output of the layer, and `DistributionLambda.call` returns two (the
  distribution and its sampled value): the KL is counted twice
  (tensorflow/probability issue 1215, open), so the model adds
  2 mean_B(w KL_i);
- `KLDivergenceAddLoss(prior, weight=w)` adds the batch total once with
  `add_loss`, undivided: w sum_B KL_i = mean_B(w B KL_i).

Per example, with B the batch size one replica sees:

    KLDivergenceRegularizer:  NLL_sum + 2 w KL_sum    beta_eff = 2 w
    KLDivergenceAddLoss:      NLL_sum + w B KL_sum    beta_eff = w B

So the example (w = 1, the default `weight=None`) trains beta_eff = 2, not
the ELBO it means, and the same weight in the add-loss layer is B times
stronger (its docstring's `weight=num_train_samples` is beta_eff = N B).
`tests/test_conventions.py` measures both factors with tf_keras and TFP.
Not converted: the example's KL is a one-sample Monte Carlo estimate
(`use_exact_kl=False`) of a full-covariance (`MultivariateNormalTriL`)
posterior; the weight means the same for tfvae's analytic KL of a diagonal
posterior.
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "tfp_layers"
VERSION = ("TFP's Probabilistic_Layers_VAE example (tfp.layers "
           "KLDivergenceRegularizer / KLDivergenceAddLoss, TFP 0.25)")
SOURCE = "tensorflow_probability/python/layers/distribution_layer.py"
LAYERS = ("regularizer", "add_loss")


def _convention(layer, weight, batch_size, event_shape, latent_dim):
  if layer == "regularizer":
    notes = ("tf_keras applies the regularizer to both outputs of "
             "DistributionLambda: the KL counts twice (tensorflow/probability "
             "issue 1215); the written weight w is stored as 2 w",)
    return Convention(
        "bce", event_shape, latent_dim, weight=2.0 * weight, name=PEER,
        label="TFP layers VAE, KLDivergenceRegularizer(weight=w)",
        formula="NLL_sum + 2 w KL_sum (the batch total / B, counted twice)",
        weight_name="2 x weight", notes=notes)
  notes = (f"KLDivergenceAddLoss adds the batch total undivided: the weight "
           f"acts {batch_size} times (the batch size) on the mean KL",)
  return Convention(
      "bce", event_shape, latent_dim, weight=weight * batch_size, name=PEER,
      label=f"TFP layers VAE, KLDivergenceAddLoss(weight=w), batch "
      f"{batch_size}",
      formula=f"NLL_sum + {batch_size} w KL_sum", weight_name="weight",
      notes=notes)


def read(beta=1.0, layer="regularizer", batch_size=None,
         input_shape=(28, 28, 1), latent_dim=16):
  """The example's loss with `weight=beta` on its KL layer.

  Args:
    beta: the KL layer's `weight` (None in the example: 1).
    layer: "regularizer" (`KLDivergenceRegularizer`, the example's) or
      "add_loss" (`KLDivergenceAddLoss`).
    batch_size: the batch size one replica sees; needed for "add_loss".
    input_shape: the event shape (the example's MNIST 28x28x1).
    latent_dim: the example's `encoded_size` (16).
  """
  _common.choice("layer", layer, LAYERS)
  shape = _common.parse_shape(input_shape)
  weight = _common.number("beta", 1.0 if beta is None else beta)
  if layer == "add_loss":
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or \
        batch_size < 1:
      raise ConfigError(f"layer='add_loss' needs batch_size (an integer >= "
                        f"1: its KL is the batch total), got {batch_size!r}")
    return _convention(layer, weight, batch_size, shape, latent_dim)
  if batch_size is not None:
    raise ConfigError("batch_size does not apply to layer='regularizer' "
                      "(Keras divides the regularizer by the batch size)")
  return _convention(layer, weight, None, shape, latent_dim)


def targets(event_shape, latent_dim):
  """The example's own layer (the add-loss one needs a batch size)."""
  return [_convention("regularizer", 1.0, None, tuple(event_shape),
                      latent_dim)]
