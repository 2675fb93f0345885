"""Numbers of a trained model: exact diagnostics over a data set (-ELBO,
rate, distortion, MI, KL parts, IWAE: `diagnostics`), the text papers'
per-token numbers (`text`), disentanglement scores and latent traversals.

Pure computations on a model and data; writing them anywhere is the
callers' job (`tfvae.callbacks`, `tfvae.evaluation`).
"""
