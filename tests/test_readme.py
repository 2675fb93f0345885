"""The README's two commands: CI runs the test one; the train one really trains."""

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT


def readme_commands():
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  block = re.search(r"## Two commands.*?```sh\n(.*?)```", text, re.S).group(1)
  return [line.split("#")[0].strip() for line in block.splitlines()
          if line.strip()]


def test_readme_names_exactly_a_train_and_a_test_command():
  assert readme_commands() == ["make train", "make test"]


def test_ci_runs_the_readme_test_command():
  with open(os.path.join(ROOT, ".ci", "run")) as f:
    script = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  assert "make test" in script


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, ".venv", ".installed")),
    reason="needs the .venv that `make test` creates")
def test_readme_train_command_trains_the_default_preset(tmp_path):
  logdir = tmp_path / "default"
  out = subprocess.run(
      ["make", "--no-print-directory", "train",
       f"ARGS=--steps=40 --eval_every=20 --logdir={logdir}"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
  assert "final validation metrics (digits" in out.stdout
  with open(logdir / "final_metrics.json") as f:
    final = json.load(f)
  assert final["step"] == 40 and final["dataset"] == "digits"
  with open(logdir / "config.json") as f:
    assert json.load(f)["model"]["sigma"] == "learned"


# ----------------------------------------------------- code blocks of the docs

# A fenced block, possibly indented (inside a list item), with its language.
BLOCK = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```",
                   re.S | re.M)
# `<!-- docs-test: skip: why -->` on the line before a block: it is not run
# (it needs a cluster, a server, or quotes foreign code); it must still
# compile and its `from tfvae... import` names must exist.
SKIP = re.compile(r"<!-- docs-test: skip: (?P<reason>[^>]*\S) *-->\s*$")
# The README's "Python API" section runs in tests/test_examples.py.
README_RUN_ELSEWHERE = "## Python API"


def doc_blocks(path):
  """[(line, language, code, skip reason or None)] of a Markdown file."""
  with open(path) as f:
    text = f.read()
  blocks = []
  for match in BLOCK.finditer(text):
    before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
    skip = SKIP.search(before)
    indent = len(match.group("indent"))
    code = "\n".join(line[indent:] for line in
                     match.group("body").splitlines())
    blocks.append((text.count("\n", 0, match.start()) + 1,
                   match.group("lang"), code,
                   skip.group("reason") if skip else None))
  return blocks


def markdown_files():
  docs = os.path.join(ROOT, "docs")
  return ["README.md"] + sorted(
      os.path.join("docs", name) for name in os.listdir(docs)
      if name.endswith(".md"))


def _readme_api_lines():
  """The line range of the README's Python API section."""
  with open(os.path.join(ROOT, "README.md")) as f:
    lines = f.read().splitlines()
  start = next(i for i, l in enumerate(lines) if
               l.startswith(README_RUN_ELSEWHERE)) + 1
  end = next(i for i in range(start, len(lines))
             if lines[i].startswith("## ")) + 1
  return start, end


def _check_tfvae_imports(code, where):
  """`from tfvae... import name` / `import tfvae...` resolve (skipped blocks)."""
  import ast  # pylint: disable=import-outside-toplevel
  import importlib  # pylint: disable=import-outside-toplevel
  for node in ast.walk(ast.parse(code, where)):
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
        "tfvae"):
      module = importlib.import_module(node.module)
      for alias in node.names:
        assert hasattr(module, alias.name) or importlib.util.find_spec(
            f"{node.module}.{alias.name}"), (
                f"{where}: {node.module} has no {alias.name}")
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith("tfvae"):
          importlib.import_module(alias.name)


def _serving_setup():
  """The export docs/serving.md reads: saved_models/default/1, 8x8 digits
  (0..16), a tiny model."""
  import keras  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tfvae  # pylint: disable=import-outside-toplevel
  encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
  decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64),
                              keras.layers.Reshape((8, 8, 1))])
  vae = tfvae.VAE(encoder, decoder, likelihood=tfvae.likelihoods.Bernoulli())
  vae.prepare(np.zeros((2, 8, 8, 1), np.float32))
  tfvae.export_saved_model(vae, "saved_models/default", uint8_scale=1 / 16)


SETUP = {"docs/serving.md": _serving_setup}
# Files whose blocks train or export for more than a few seconds.
SLOW_DOCS = ("docs/serving.md",)


def test_every_python_block_is_run_or_skipped_with_a_reason():
  """Only ```python blocks hold code to run; a skip names its reason, and
  skips stay rare."""
  skipped = []
  for name in markdown_files():
    for line, lang, code, reason in doc_blocks(os.path.join(ROOT, name)):
      if lang in ("py", "pycon") or (not lang and re.search(
          r"^(import |from \S+ import )", code, re.M)):
        raise AssertionError(f"{name}:{line}: tag Python code ```python")
      if reason is not None:
        assert lang == "python", f"{name}:{line}: only Python blocks skip"
        skipped.append(f"{name}:{line}")
  assert len(skipped) <= 3, skipped


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW_DOCS else n
    for n in markdown_files()])
def test_docs_python_blocks_run(name, tmp_path, monkeypatch):
  """Each file's ```python blocks run in order in one namespace, in an
  empty directory; skipped ones compile and import what exists."""
  blocks = [b for b in doc_blocks(os.path.join(ROOT, name))
            if b[1] == "python"]
  if name == "README.md":
    start, end = _readme_api_lines()
    blocks = [b for b in blocks if not start <= b[0] <= end]
  monkeypatch.chdir(tmp_path)
  # A block may register an example family; it must not outlive this test.
  from tfvae.balancing import base as balancing_base  # pylint: disable=import-outside-toplevel
  from tfvae.likelihoods import base as likelihoods_base  # pylint: disable=import-outside-toplevel
  for registry in (balancing_base, likelihoods_base):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # pylint: disable=protected-access
  if name in SETUP and any(reason is None for *_, reason in blocks):
    SETUP[name]()
  namespace = {"__name__": "__docs__"}
  for line, _, code, reason in blocks:
    where = f"{name}:{line}"
    if reason is not None:
      _check_tfvae_imports(code, where)
      continue
    exec(compile(code, where, "exec"), namespace)  # pylint: disable=exec-used
