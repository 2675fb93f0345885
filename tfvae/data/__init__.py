"""Data sets: the built-in generated ones (digits, dSprites, shapes_rgb,
mixed_table, sentences), users' files (npz, image folders, TFDS), their
checks against a likelihood's support and the tf.data pipelines.

Owns loading and checking data; nothing here trains or knows a model.
"""
