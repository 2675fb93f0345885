"""tfvae: variational autoencoders whose KL weighting is a stated, comparable choice.

The library is organised in wings, each importable on its own:

- `tfvae.config`: the one configuration object (no TensorFlow import).
- `tfvae.objectives`: pure functions for the KL, the reductions, the question's loss
  and the general weighted objective.
- `tfvae.likelihoods`: decoder distributions through `tfp.distributions`.
- `tfvae.networks`, `tfvae.models`: encoders/decoders and the Keras models.
- `tfvae.balancing`: KL schedules, free bits, capacity, GECO and ControlVAE.
- `tfvae.data`: offline data sets and tf.data pipelines.
- `tfvae.metrics`: diagnostics (rate, distortion, active units, IWAE, MI),
  disentanglement metrics and latent traversals.
- `tfvae.evaluation`, `tfvae.analysis`: evaluating runs and SavedModels, and
  the rate-distortion sweep's tables and plots.
- `tfvae.training`, `tfvae.export`: the training loop, TensorBoard, checkpoints and
  SavedModel export.
"""

__version__ = "0.2.0"
