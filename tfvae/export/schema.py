"""The SavedModel schema shared by the writer (`tfvae.export.saved_model`)
and the reader (`tfvae.export.reader`): file names and the signatures every
image export has. No TensorFlow here: the reader checks an export's files
before TensorFlow loads.
"""

# `assets/<METADATA_FILE>`: tfvae and TensorFlow versions, training step,
# likelihood description, shapes, data scale, signatures, ELBO settings.
METADATA_FILE = "tfvae_export.json"
# `assets/<CONFIG_FILE>`: the run's full training config.
CONFIG_FILE = "config.json"
# `assets/<VOCAB_FILE>`: the sentence VAE's vocabulary, one token a line.
VOCAB_FILE = "vocab.txt"
# The signatures the evaluation's reader calls.
READER_SIGNATURES = ("encode", "decode", "reconstruct")
