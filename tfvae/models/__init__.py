"""The Keras models: `VAE`, `ReferenceVAE` (the question's loss, line for
line), `SequenceVAE`, their shared `BaseVAE`, the objective they train
(`objective`), the input checks (`inputs`), compile settings (`execution`)
and the factory that builds them from a config.

A model holds what its `train_step` needs; it imports nothing from training,
evaluation or export.
"""
