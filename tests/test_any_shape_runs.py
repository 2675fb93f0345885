"""A command-line run on real-valued sequences: train, evaluate, export.

`npz` data of shape [N, T, D] keep their event shape, the Gaussian's mean is
the identity (the data leave [0, 1]), and the checkpoint's evaluation, the
exported model's evaluation and the export's metadata agree on it.
"""

import json
import os

import numpy as np
import pytest

from tfvae import evaluation
from tfvae.config import ExperimentConfig
from tfvae.training import trainer


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("sequences")
  rng = np.random.RandomState(0)
  t = np.linspace(0, 1, 16)[None, :, None]
  x = (rng.uniform(0.3, 1.0, (400, 1, 1)) *
       np.sin(2 * np.pi * rng.uniform(1, 3, (400, 1, 1)) * t +
              rng.uniform(0, 6, (400, 1, 1)) + np.arange(3) * 0.7))
  path = str(root / "seq.npz")
  np.savez(path, x=x.astype(np.float32))
  config = ExperimentConfig.from_flat(
      dataset=f"npz:{path}", steps=60, eval_every=30, checkpoint_every=60,
      hidden_units=32, latent_dim=3, logdir=str(root / "run"),
      export_dir=str(root / "export"), verbose=0).validate()
  final = trainer.train(config, print_fn=lambda *_: None)
  return config, final


def test_sequence_run_keeps_its_shape_and_an_identity_mean(sequence_run):
  config, final = sequence_run
  with open(os.path.join(config.run.logdir, "data.json")) as f:
    spec = json.load(f)
  assert spec["image_shape"] == [16, 3] and spec["support"] == "real"
  with open(os.path.join(final["export_path"], "assets",
                         "tfvae_export.json")) as f:
    metadata = json.load(f)
  assert metadata["gaussian_mean"] == "identity"
  assert metadata["image_shape"] == [16, 3]


def test_checkpoint_and_export_evaluate_to_the_same_numbers(sequence_run):
  config, final = sequence_run
  from_checkpoint = evaluation.evaluate_run(config.run.logdir, iw_samples=0,
                                            tensorboard_dir=None)
  from_export = evaluation.evaluate_saved_model(
      final["export_path"], dataset=config.data.dataset, iw_samples=0)
  for key in ("neg_elbo", "rate", "distortion"):
    assert from_export[key] == pytest.approx(from_checkpoint[key], rel=1e-4)
