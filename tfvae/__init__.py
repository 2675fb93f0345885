"""tfvae: variational autoencoders whose KL weighting is a stated, comparable choice.

Bring your own Keras encoder and decoder; tfvae supplies the objective, the
weighting convention, the balancing methods, the callbacks, the metrics and the
export:

    import tfvae
    vae = tfvae.VAE(encoder, decoder,
                    likelihood=tfvae.likelihoods.Gaussian(sigma="learned"),
                    weighting=tfvae.Weighting(rec="mean", kl="mean", beta=0.1),
                    balancer=tfvae.balancers.Linear(warmup_steps=10_000))
    vae.compile(optimizer="adam")
    vae.fit(x_train, validation_data=x_val, epochs=20,
            callbacks=[tfvae.callbacks.TensorBoard("runs/mine")])

Public names (imported on first use, so `import tfvae` stays cheap):

- `VAE`, `ReferenceVAE` (the question's loss, line for line), `SequenceVAE`
  (a sentence VAE with a teacher-forced decoder, `tfvae.models.sequence`)
- `Weighting` (reductions and beta / beta_norm, and every unit of the weight)
- `likelihoods` (Bernoulli, ContinuousBernoulli, Gaussian, Beta, Categorical,
  DiscretizedLogistic, DiscretizedGaussian, Columns; a registry by name)
- `balancers` (KLWeight/Constant, Linear, Sigmoid, Cyclical, FreeBits,
  Capacity, GECO, ControlVAE; a registry by name)
- `schedules` (pure step -> weight functions, and `KLScheduleCallback` for
  any Keras model), `callbacks` (KLSchedule, TensorBoard, Checkpoint,
  NonFiniteGuard)
- `objective` (the loss and the true terms as a function, for your own loop)
- `evaluate` (exact diagnostics of a model on data), `evaluate_text` (the
  text papers' per-token numbers), `export_saved_model`
- `networks` (tfvae's mlp/conv encoders and decoders)
- `conventions` (the weighting translator: read a peer's loss convention, get
  the same objective in every unit and the tfvae flags that train it)
"""

import importlib

__version__ = "0.2.0"

_LAZY = {
    "VAE": ("tfvae.models.vae", "VAE"),
    "ReferenceVAE": ("tfvae.models.reference", "ReferenceVAE"),
    "SequenceVAE": ("tfvae.models.sequence", "SequenceVAE"),
    "Weighting": ("tfvae.objectives.weighting", "Weighting"),
    "likelihoods": ("tfvae.likelihoods", None),
    "balancers": ("tfvae.balancing", None),
    "schedules": ("tfvae.callbacks.schedules", None),
    "callbacks": ("tfvae.callbacks", None),
    "networks": ("tfvae.networks", None),
    "conventions": ("tfvae.conventions", None),
    "objective": ("tfvae.models.objective", "objective"),
    "evaluate": ("tfvae.metrics.diagnostics", "evaluate_model"),
    "evaluate_text": ("tfvae.metrics.text", "evaluate_text"),
    "export_saved_model": ("tfvae.export.saved_model", "export_model"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module 'tfvae' has no attribute {name!r}")
  module_name, attribute = _LAZY[name]
  module = importlib.import_module(module_name)
  value = module if attribute is None else getattr(module, attribute)
  globals()[name] = value
  return value


def __dir__():
  return __all__
