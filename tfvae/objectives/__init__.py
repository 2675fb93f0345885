"""Every formula of the objective, once: the KL and the reparameterised
sample (`kl`), the ELBO terms and bits/dim (`elbo`), the weighting units
(`weighting`), the balanced loss (`balanced`), the KL decomposition
(`decomposition`), the question's loss (`reference`) and the stateless
noise they draw (`seeds`).

Pure TensorFlow functions; no Keras models, no I/O.
"""
