"""The sentence VAE from the command line: config, data, model, evaluation,
text summaries and the token-id export."""

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_forked
from tfvae.config import ExperimentConfig
from tfvae.config import ignored
from tfvae.data import datasets
from tfvae.errors import ConfigError
from tfvae.errors import DataError
from tfvae.export import saved_model
from tfvae.export import sequence as sequence_export
from tfvae.models import factory
from tfvae.models import sequence
from tfvae.training import preflight
from tfvae.callbacks import text as text_summaries

SMALL = dict(dataset="sentences", model="sequence", likelihood="categorical",
             latent_dim=3, hidden_units=16, embedding_dim=8, batch_size=8)


def small_config(**overrides):
  return ExperimentConfig.from_flat({**SMALL, **overrides}).validate()


@pytest.fixture(scope="module")
def data():
  return datasets.load_data(small_config())


@pytest.fixture(scope="module")
def model(data):
  tf.keras.utils.set_random_seed(3)
  return factory.build_model(small_config(word_dropout=0.25),
                             data.event_shape, data=data)


# ------------------------------------------------------------------ config


def test_sequence_model_needs_the_categorical_likelihood():
  with pytest.raises(ConfigError, match="likelihood=categorical") as info:
    small_config(likelihood="gaussian")
  assert "model" in info.value.params


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_word_dropout_outside_zero_one_is_refused(value):
  with pytest.raises(ConfigError, match="word_dropout"):
    small_config(word_dropout=value)


def test_sequence_flags_are_ignored_flags_without_the_sequence_model():
  config = ExperimentConfig.from_flat(word_dropout=0.3).validate()
  found = dict(ignored.ignored(config, ["word_dropout", "embedding_dim"]))
  assert found == {"word_dropout": "model=sequence",
                   "embedding_dim": "model=sequence"}
  # With it, they count and the architecture does not.
  config = small_config(word_dropout=0.3)
  found = dict(ignored.ignored(config, ["word_dropout", "architecture",
                                        "hidden_units", "likelihood"]))
  assert set(found) == {"architecture"}


# -------------------------------------------------------------------- data


def test_sentences_data_carry_vocabulary_and_pad_id(data):
  assert data.train.dtype == np.int32 and data.train.shape[1] == 30
  assert data.num_classes == len(data.vocab) == 2000
  assert data.pad_id == 0 and data.vocab[0] == "<pad>"
  assert data.values and data.num_train == data.train.shape[0]
  config = small_config(max_examples=100)
  assert datasets.load_data(config).num_train == 100


def test_sentences_refuse_binarization():
  with pytest.raises(DataError, match="binarization"):
    datasets.load_data(small_config(binarization="static"))


def test_image_data_is_refused_by_the_sequence_model():
  config = small_config(dataset="digits")
  with pytest.raises(DataError, match="token ids of shape"):
    preflight.check_data(config, datasets.load_data(config))
  with pytest.raises(DataError, match="token ids of shape"):
    factory.build_model(config, (8, 8, 1),
                        data=types.SimpleNamespace(num_classes=17))


# ------------------------------------------------------------------- model


def test_factory_builds_the_sequence_vae_from_the_config(model, data):
  assert isinstance(model, sequence.SequenceVAE)
  assert model.vocab_size == 2000 and model.max_length == 30
  assert model.pad_id == 0 and model.likelihood.mask_value == 0
  assert model.word_dropout == 0.25 and model.latent_dim == 3
  assert model.vocab_tokens == data.vocab
  gru = model.encoder.get_layer("gru")
  assert gru.units == 16
  assert model.encoder.get_layer("embedding").output_dim == 8


# -------------------------------------------------------- text summaries


def test_perplexity_is_exp_of_nll_per_real_token():
  ids = np.array([[5, 6, 3, 0], [7, 3, 0, 0]])
  mean_tokens = text_summaries.tokens_per_sentence(ids, pad_id=0)
  assert mean_tokens == 2.5
  out = text_summaries.perplexities({"neg_elbo": 5.0, "iwae_nll": 4.0},
                                    mean_tokens)
  assert out["perplexity"] == pytest.approx(math.exp(2.0))
  assert out["iwae_perplexity"] == pytest.approx(math.exp(1.6))
  assert "iwae_perplexity" not in text_summaries.perplexities(
      {"neg_elbo": 5.0}, mean_tokens)


def test_homotopy_runs_from_one_code_to_the_other():
  codes = text_summaries.homotopy_codes([0.0, 2.0], [4.0, -2.0])
  np.testing.assert_allclose(codes, [[0, 2], [1, 1], [2, 0], [3, -1],
                                     [4, -2]])


def test_text_samples_are_markdown_tables_of_words(model, data):
  tables = text_summaries.text_samples(model, data.validation[:3],
                                       data.vocab)
  assert set(tables) == {"reconstructions", "prior_samples", "homotopy"}
  row = data.validation[0]
  first = " ".join(data.vocab[i] for i in row[:list(row).index(3)])
  assert first in tables["reconstructions"]
  # z_1, five points, z_2 below the header.
  assert len(tables["homotopy"].splitlines()) == 2 + 7
  assert len(tables["prior_samples"].splitlines()) == 2 + 3


# ------------------------------------------------------------------ export


def test_graph_decoding_equals_the_models_greedy_decoding(model):
  z = tf.random.stateless_normal([4, model.latent_dim], seed=[1, 2]) * 3.0
  graph = tf.function(lambda z: sequence_export.decode_tokens(model, z),
                      autograph=False)
  np.testing.assert_array_equal(graph(z).numpy(), model.generate(z))


def test_elbo_signature_counts_real_tokens_and_adds_rate(model, data):
  ids = data.validation[:5]
  scores = sequence_export.elbo_scores(model, tf.constant(ids))
  np.testing.assert_array_equal(scores["tokens"].numpy(),
                                np.sum(ids != 0, axis=1))
  np.testing.assert_allclose(scores["neg_elbo"],
                             scores["rate"] + scores["distortion"],
                             rtol=1e-6)
  # Its distortion with the posterior mean alone is the model's.
  z_mean, _ = model.encode(ids)
  assert np.all(scores["rate"].numpy() > 0)
  assert np.all(np.isfinite(-model.log_likelihood(ids, z_mean).numpy()))


SERVE = """
import sys
sys.modules["tfvae"] = None  # Serving must not need tfvae.
import json
import numpy as np
import tensorflow as tf
path = sys.argv[1]
m = tf.saved_model.load(path)
with open(path + "/assets/vocab.txt", encoding="utf-8") as f:
  vocab = f.read().split("\\n")[:-1]
ids = tf.constant(np.load(sys.argv[2]))
enc = m.signatures["encode"](ids=ids)
dec = m.signatures["decode"](z=enc["z_mean"])
forced = m.signatures["teacher_forced"](z=enc["z_mean"], ids=ids)
gen = m.signatures["generate"](num_samples=tf.constant(3),
                               temperature=tf.constant(0.0))
sampled = m.signatures["generate"](num_samples=tf.constant(2),
                                   temperature=tf.constant(1.0))
elbo = m.signatures["elbo"](ids=ids)
print(json.dumps({
    "vocab": len(vocab), "first": vocab[:4],
    "z_mean": enc["z_mean"].numpy().tolist(),
    "decoded": dec["ids"].numpy().tolist(),
    "logits_shape": list(dec["logits"].shape),
    "forced_shape": list(forced["logits"].shape),
    "generated": list(gen["ids"].shape), "sampled": list(sampled["ids"].shape),
    "neg_elbo": elbo["neg_elbo"].numpy().tolist(),
    "tokens": elbo["tokens"].numpy().tolist()}))
"""


def test_export_serves_without_tfvae_and_with_saved_model_cli(model, data,
                                                             tmp_path):
  path = saved_model.export(model, small_config(), str(tmp_path / "export"),
                            step=0)
  ids = data.validation[:2]
  np.save(tmp_path / "ids.npy", ids)
  out = subprocess.run(
      [sys.executable, "-c", SERVE, path, str(tmp_path / "ids.npy")],
      capture_output=True, text=True, timeout=300, env={
          **os.environ, "PYTHONPATH": ""}, cwd=str(tmp_path))
  assert out.returncode == 0, out.stderr[-3000:]
  served = json.loads(out.stdout.strip().splitlines()[-1])
  assert served["vocab"] == 2000
  assert served["first"] == ["<pad>", "<unk>", "<bos>", "<eos>"]
  z_mean, _ = model.encode(ids)
  np.testing.assert_allclose(served["z_mean"], z_mean.numpy(), atol=1e-5)
  np.testing.assert_array_equal(served["decoded"], model.generate(z_mean))
  assert served["logits_shape"] == [2, 30, 2000]
  assert served["forced_shape"] == [2, 30, 2000]
  assert served["generated"] == [3, 30] and served["sampled"] == [2, 30]
  assert served["tokens"] == np.sum(ids != 0, axis=1).tolist()
  with open(os.path.join(path, "assets", "tfvae_export.json")) as f:
    meta = json.load(f)
  assert meta["model"] == "sequence" and meta["pad_id"] == 0
  assert "generate" in meta["signatures"]

  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  run = subprocess.run(
      [cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def",
       "elbo", "--inputs", f"ids={tmp_path / 'ids.npy'}"],
      capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert "Result for output key tokens" in run.stdout
  assert "Result for output key neg_elbo" in run.stdout


# -------------------------------------------------------------- the CLI


def test_flagfile_trains_reports_perplexity_and_exports(tmp_path):
  logdir, export_dir = str(tmp_path / "run"), str(tmp_path / "export")
  out = run_forked("train.py",
                   "--flagfile=scripts/flags/sentence_vae.flags",
                   "--steps=30", "--eval_every=30", "--hidden_units=32",
                   "--embedding_dim=16", f"--logdir={logdir}",
                   f"--export_dir={export_dir}", "--verbose=0")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "perplexity (per real token)" in out.stdout
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    final = json.load(f)
  assert final["dataset"] == "sentences"
  assert final["perplexity"] == pytest.approx(
      math.exp(final["neg_elbo"] / final["tokens_per_sentence"]), rel=1e-9)
  assert 1 < final["perplexity"] < 2000**2
  assert os.path.exists(os.path.join(export_dir, "1", "assets", "vocab.txt"))
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=import-outside-toplevel
  events = event_accumulator.EventAccumulator(
      os.path.join(logdir, "validation"), size_guidance={"tensors": 0})
  events.Reload()
  tags = set(events.Tags()["tensors"])
  assert {"perplexity", "reconstructions", "prior_samples",
          "homotopy"} <= tags
