"""Sentence data sets for the sentence VAE: a built-in English corpus and users' token arrays.

- `load_pydoc()`: English prose that ships with Python itself
  (`pydoc_data.topics`, the language reference's topics, ~0.5 MB of text
  in Python 3.11; no download). The text is cut into paragraphs at blank
  lines; only prose paragraphs are kept (one indentation, or a list item's
  hanging one; no grammar rules `::=` or `>>>` sessions; at least 75%
  letters and spaces), so code, grammar and tables are left out.
  Paragraphs are split into sentences after `.`, `!` or `?` followed by a
  capital letter or an opening quote or bracket, and only sentences ending
  with `.`, `!` or `?` are kept (headings and "...:" lead-ins are not).
  A sentence is tokenised at word level, lower case: runs of letters,
  digits and underscores (with an apostrophe suffix, "don't") and the
  punctuation marks . , ; : ! ? ( ) are tokens; other characters are
  dropped. Sentences of fewer than `min_words` tokens, repeated sentences
  (all but the first) and sentences of more than `max_length - 1` tokens
  (no room for the end token) are DROPPED, never cut. The distinct
  sentences are shuffled with `seed` and the last `validation_fraction`
  held out. The vocabulary is the `vocab_size - 4` most frequent training
  tokens (ties alphabetical) after the four special tokens; other tokens
  become <unk>.
- `load_npz(path)`: a user's corpus as integer token arrays: key `x`
  ([N, T] ids, padded), optional `validation` ([M, T]; else a held-out
  split as above), optional `vocab` (the V token strings) and optional
  `pad_id`, `unk_id`, `bos_id`, `eos_id` (default 0, 1, 2, 3).

Both return a `TextData`: int32 arrays [N, T] of ids (words, then the end
token, then padding), the vocabulary and the special ids, with the
`num_classes` (V) and `support` ("classes") that `tfvae.likelihoods`'
categorical family reads. The special ids are tfvae.models.sequence's
defaults:

    <pad> = 0, <unk> = 1, <bos> = 2, <eos> = 3.

Deterministic: the same Python version (its `pydoc_data` text, whose
SHA-256 is `TextData.checksum`) and arguments give the same arrays.
"""

import collections
import dataclasses
import hashlib
import re
from typing import Optional, Sequence, Tuple

import numpy as np

from tfvae.errors import DataError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

_TOKEN = re.compile(r"[a-z0-9_]+(?:'[a-z]+)?|[.,;:!?()]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_BULLET = re.compile(r"^(?:[*-]|[0-9]+\.) ")
_UNDERLINE = re.compile(r"^\s*([*=\-~^+#])\1{2,}\s*$")


@dataclasses.dataclass
class TextData:
  """Token ids of a sentence corpus and how to read them.

  Attributes:
    name: the source ("pydoc" or "npz:PATH").
    train, validation: int32 [N, T] ids: words, the end token, padding.
    vocab: the V token strings, id order (None for an npz without one).
    pad_id, unk_id, bos_id, eos_id: the special tokens' ids.
    checksum: SHA-256 of the source text (built-in corpus) or "".
    dropped: sentences dropped for their length.
  """

  name: str
  train: np.ndarray
  validation: np.ndarray
  vocab: Optional[Tuple[str, ...]]
  pad_id: int = PAD_ID
  unk_id: int = UNK_ID
  bos_id: int = BOS_ID
  eos_id: int = EOS_ID
  checksum: str = ""
  dropped: int = 0
  support: str = "classes"

  @property
  def num_classes(self) -> int:
    """V: the vocabulary's size (the largest id + 1 without a vocabulary)."""
    if self.vocab is not None:
      return len(self.vocab)
    return int(max(self.train.max(), self.validation.max(), self.pad_id,
                   self.unk_id, self.bos_id, self.eos_id)) + 1

  @property
  def max_length(self) -> int:
    """T, the padded length (words and the end token)."""
    return int(self.train.shape[1])

  @property
  def event_shape(self):
    return (self.max_length,)

  @property
  def num_features(self):
    return self.max_length

  def decode(self, ids) -> list:
    """Sentences (strings) from ids [N, T]: up to the end token, padding
    and the begin token left out."""
    if self.vocab is None:
      raise ValueError(f"{self.name} has no vocabulary to decode ids with")
    out = []
    for row in np.asarray(ids, np.int64):
      words = []
      for token in row:
        if token == self.eos_id:
          break
        if token not in (self.pad_id, self.bos_id):
          words.append(self.vocab[token])
      out.append(" ".join(words))
    return out

  def encode(self, sentences: Sequence[str]) -> np.ndarray:
    """int32 [N, T] ids of sentences (tokenised as the corpus; cut at
    T - 1 tokens), padded."""
    if self.vocab is None:
      raise ValueError(f"{self.name} has no vocabulary to encode text with")
    index = {token: i for i, token in enumerate(self.vocab)}
    return _to_ids([tokenize(s)[:self.max_length - 1] for s in sentences],
                   index, self.max_length)


def tokenize(sentence: str) -> list:
  """Lower-case word and punctuation tokens (see the module docstring)."""
  return _TOKEN.findall(sentence.lower())


def _indent(line):
  return len(line) - len(line.lstrip(" "))


def _is_prose(lines):
  """A paragraph of prose, not code, grammar or a session: one indentation
  (a list item's continuation lines may hang under its text), no grammar
  or prompts, mostly letters."""
  bullet = _BULLET.match(lines[0].lstrip(" "))
  hanging = _indent(lines[0]) + (len(bullet.group(0)) if bullet else 0)
  if any(_indent(line) not in (_indent(lines[0]), hanging)
         for line in lines[1:]):
    return False
  text = " ".join(line.strip() for line in lines)
  if "::=" in text or ">>>" in text:
    return False
  letters = sum(c.isalpha() or c == " " for c in text)
  return letters >= 0.75 * len(text)


def sentences_from_text(text: str) -> list:
  """The prose sentences of a text (see the module docstring)."""
  sentences = []
  for paragraph in re.split(r"\n\s*\n", text):
    lines = [line for line in paragraph.split("\n")
             if line.strip() and not _UNDERLINE.match(line)]
    if not lines or not _is_prose(lines):
      continue
    prose = _BULLET.sub("", " ".join(line.strip() for line in lines))
    for sentence in _SENTENCE_END.split(prose):
      sentence = sentence.strip()
      if sentence[-1:] in (".", "!", "?"):
        sentences.append(sentence)
  return sentences


def build_vocabulary(token_lists, size: int) -> Tuple[str, ...]:
  """The specials, then the `size - 4` most frequent tokens (ties in
  alphabetical order)."""
  counts = collections.Counter(t for tokens in token_lists for t in tokens)
  for special in SPECIALS:
    counts.pop(special, None)
  ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
  return SPECIALS + tuple(token for token, _ in ranked[:size - len(SPECIALS)])


def _to_ids(token_lists, index, max_length):
  ids = np.full((len(token_lists), max_length), PAD_ID, np.int32)
  for i, tokens in enumerate(token_lists):
    row = [index.get(t, UNK_ID) for t in tokens] + [EOS_ID]
    ids[i, :len(row)] = row
  return ids


def _check_split(validation_fraction, seed):
  if not 0.0 < validation_fraction < 1.0:
    raise DataError(f"validation_fraction must be in (0, 1), got "
                    f"{validation_fraction!r}",
                    params=("validation_fraction",))
  return np.random.default_rng(seed)


def load_pydoc(vocab_size=2000, max_length=30, validation_fraction=0.1,
               seed=0, min_words=3) -> TextData:
  """The built-in English sentences (`pydoc_data.topics`), tokenised.

  Args:
    vocab_size: V, the specials included (>= 5).
    max_length: T, tokens per sentence with the end token; longer sentences
      are dropped.
    validation_fraction: the share of sentences held out.
    seed: the shuffle's seed.
    min_words: shorter sentences are dropped.

  Returns:
    TextData (1568 training and 174 held-out sentences of 17.7 tokens on
    average, 421 longer ones dropped, at the defaults on Python 3.11).
  """
  from pydoc_data import topics  # pylint: disable=import-outside-toplevel
  if not isinstance(vocab_size, int) or vocab_size < len(SPECIALS) + 1:
    raise DataError(f"vocab_size must be an integer >= 5, got "
                    f"{vocab_size!r}", params=("vocab_size",))
  if not isinstance(max_length, int) or max_length < 2:
    raise DataError(f"max_length must be an integer >= 2, got "
                    f"{max_length!r}", params=("max_length",))
  rng = _check_split(validation_fraction, seed)
  text = "\n\n".join(topics.topics[key] for key in sorted(topics.topics))
  seen, token_lists, dropped = set(), [], 0
  for sentence in sentences_from_text(text):
    tokens = tokenize(sentence)
    key = " ".join(tokens)
    if len(tokens) < min_words or key in seen:
      continue
    seen.add(key)
    if len(tokens) > max_length - 1:
      dropped += 1
      continue
    token_lists.append(tokens)
  order = rng.permutation(len(token_lists))
  held_out = max(1, int(round(validation_fraction * len(order))))
  train_lists = [token_lists[i] for i in order[:-held_out]]
  validation_lists = [token_lists[i] for i in order[-held_out:]]
  vocab = build_vocabulary(train_lists, vocab_size)
  index = {token: i for i, token in enumerate(vocab)}
  return TextData(
      name="pydoc", train=_to_ids(train_lists, index, max_length),
      validation=_to_ids(validation_lists, index, max_length), vocab=vocab,
      checksum=hashlib.sha256(text.encode("utf-8")).hexdigest(),
      dropped=dropped)


def _integer_ids(array, source, key):
  array = np.asarray(array)
  if array.ndim != 2 or array.shape[0] == 0:
    raise DataError(f"{source}: {key} must be token ids of shape [N, T] with "
                    f"N > 0, got shape {array.shape}")
  if not np.issubdtype(array.dtype, np.number):
    raise DataError(f"{source}: {key} must hold integer ids, got dtype "
                    f"{array.dtype}")
  if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
    raise DataError(f"{source}: {key} must hold integer ids, got non-integer "
                    f"or non-finite values")
  if array.min() < 0:
    raise DataError(f"{source}: {key} has negative ids (min {array.min()})")
  return array.astype(np.int32)


def load_npz(path, validation_fraction=0.1, seed=0) -> TextData:
  """A user's corpus of integer token ids (see the module docstring)."""
  source = f"npz:{path}"
  try:
    archive = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise DataError(f"{source}: cannot read ({e})") from None
  with archive:
    if "x" not in archive:
      raise DataError(f"{source}: no array under key 'x' (found "
                      f"{', '.join(archive.files) or 'none'})")
    x = _integer_ids(archive["x"], source, "x")
    specials = {name: int(archive[name]) if name in archive else default
                for name, default in (("pad_id", PAD_ID), ("unk_id", UNK_ID),
                                      ("bos_id", BOS_ID), ("eos_id", EOS_ID))}
    vocab = (tuple(str(v) for v in archive["vocab"]) if "vocab" in archive
             else None)
    if "validation" in archive:
      validation = _integer_ids(archive["validation"], source, "validation")
      if validation.shape[1] != x.shape[1]:
        raise DataError(f"{source}: validation has length "
                        f"{validation.shape[1]}, x has {x.shape[1]}")
      train = x
    else:
      rng = _check_split(validation_fraction, seed)
      order = rng.permutation(len(x))
      held_out = max(1, int(round(validation_fraction * len(x))))
      if held_out >= len(x):
        raise DataError(f"{source}: {len(x)} sentences are too few to hold "
                        f"out a validation split")
      train, validation = x[order[:-held_out]], x[order[-held_out:]]
  if vocab is not None:
    top = max(int(train.max()), int(validation.max()))
    if top >= len(vocab):
      raise DataError(f"{source}: id {top} is outside the vocabulary of "
                      f"{len(vocab)} tokens")
  return TextData(name=source, train=train, validation=validation,
                  vocab=vocab, **specials)


def load(source="pydoc", **kwargs) -> TextData:
  """`"pydoc"` (the built-in corpus) or `"npz:PATH"` (a user's ids)."""
  if source == "pydoc":
    return load_pydoc(**kwargs)
  if source.startswith("npz:"):
    return load_npz(source[len("npz:"):], **kwargs)
  raise DataError(f"text source must be 'pydoc' or 'npz:PATH', got "
                  f"{source!r}", params=("source",))
