"""The built-in sentence corpus and users' token arrays."""

import numpy as np
import pytest

from tfvae.data import text
from tfvae.errors import DataError
from tfvae.models import sequence


@pytest.fixture(scope="module")
def corpus():
  return text.load_pydoc(vocab_size=500, max_length=20)


def test_layout_of_every_sentence(corpus):
  for ids in (corpus.train, corpus.validation):
    assert ids.dtype == np.int32 and ids.shape[1] == 20
    for row in ids:
      ends = np.flatnonzero(row == text.EOS_ID)
      assert ends.size == 1, row
      words, rest = row[:ends[0]], row[ends[0] + 1:]
      assert words.size >= 3
      assert np.all((words >= 4) | (words == text.UNK_ID))
      assert np.all(rest == text.PAD_ID)
  assert corpus.num_classes == 500 == len(corpus.vocab)
  assert corpus.vocab[:4] == ("<pad>", "<unk>", "<bos>", "<eos>")
  assert (text.PAD_ID, text.UNK_ID, text.BOS_ID, text.EOS_ID) == (
      sequence.PAD_ID, sequence.UNK_ID, sequence.BOS_ID, sequence.EOS_ID)
  assert corpus.support == "classes" and corpus.event_shape == (20,)
  assert len(corpus.train) > 1000 and corpus.dropped > 0


def test_deterministic_and_split_by_seed(corpus):
  again = text.load_pydoc(vocab_size=500, max_length=20)
  np.testing.assert_array_equal(again.train, corpus.train)
  np.testing.assert_array_equal(again.validation, corpus.validation)
  assert again.vocab == corpus.vocab and again.checksum == corpus.checksum
  other = text.load_pydoc(vocab_size=500, max_length=20, seed=1)
  assert len(other.train) + len(other.validation) == len(corpus.train) + len(
      corpus.validation)
  assert not np.array_equal(other.validation, corpus.validation)
  # Held out: no training sentence repeats in validation.
  train = {r.tobytes() for r in corpus.train}
  assert not any(r.tobytes() in train for r in corpus.validation
                 if not np.any(r == text.UNK_ID))


def test_vocabulary_is_the_most_frequent_training_tokens(corpus):
  counts = {}
  for sentence in corpus.decode(corpus.train):
    for token in sentence.split():
      counts[token] = counts.get(token, 0) + 1
  counts.pop("<unk>", None)
  kept = [counts[t] for t in corpus.vocab[4:]]
  assert kept == sorted(kept, reverse=True)


def test_decode_encode_round_trip(corpus):
  sentences = corpus.decode(corpus.validation[:20])
  np.testing.assert_array_equal(corpus.encode(sentences),
                                corpus.validation[:20])
  assert text.tokenize("Don't split (this), OK?") == [
      "don't", "split", "(", "this", ")", ",", "ok", "?"]


def test_sentences_leave_code_and_grammar_out():
  sample = ("Assignment statements\n*********************\n\n"
            "The first sentence is here.  A second one follows!\n\n"
            "   assignment_stmt ::= (target_list \"=\")+ expression\n\n"
            "   try:\n       x = 1\n   except:\n       pass\n\n"
            "* A bullet that hangs\n  over two lines.\n\n"
            "For example:\n")
  assert text.sentences_from_text(sample) == [
      "The first sentence is here.", "A second one follows!",
      "A bullet that hangs over two lines."]


def test_npz_corpus(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.integers(4, 30, size=(50, 12)).astype(np.int64)
  x[:, -1] = text.EOS_ID
  path = tmp_path / "corpus.npz"
  vocab = np.array(list(text.SPECIALS) + [f"w{i}" for i in range(26)])
  np.savez(path, x=x, vocab=vocab)
  data = text.load(f"npz:{path}")
  assert data.num_classes == 30 and data.train.dtype == np.int32
  assert len(data.train) == 45 and len(data.validation) == 5
  assert data.decode(data.train[:1])[0].startswith("w")
  np.savez(path, x=x, validation=x[:3])
  data = text.load(f"npz:{path}")
  assert data.vocab is None and data.num_classes == 30
  np.testing.assert_array_equal(data.validation, x[:3])


@pytest.mark.parametrize("arrays, words", [
    ({"y": np.zeros((3, 4))}, "no array under key 'x'"),
    ({"x": np.full((3, 4), 0.5)}, "integer ids"),
    ({"x": np.full((3, 4), -1)}, "negative"),
    ({"x": np.full((3, 4), 9), "vocab": np.array(list(text.SPECIALS))},
     "outside the vocabulary"),
])
def test_bad_npz(tmp_path, arrays, words):
  path = tmp_path / "bad.npz"
  np.savez(path, **arrays)
  with pytest.raises(DataError, match=words):
    text.load(f"npz:{path}")


def test_bad_arguments():
  with pytest.raises(DataError, match="vocab_size"):
    text.load_pydoc(vocab_size=3)
  with pytest.raises(DataError, match="validation_fraction"):
    text.load_pydoc(validation_fraction=1.0)
  with pytest.raises(DataError, match="source"):
    text.load("ptb")
