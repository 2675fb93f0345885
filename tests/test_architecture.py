"""docs/architecture.md matches the code: layers, no upward import, no cycle."""

import ast
import os
import re

import pytest

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "tfvae")
DOC = os.path.join(ROOT, "docs", "architecture.md")
# The public API loads names lazily and may import anything.
PUBLIC_API = "tfvae"
# Root names any module may import from the public API module.
ROOT_NAMES = {"__version__"}


def layers():
  """{package: layer} from the doc's table."""
  with open(DOC) as f:
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", f.read(), re.M)
  return {package: int(layer) for layer, package in rows}


def modules():
  """{dotted module name: path} of every module of the package."""
  out = {}
  for directory, _, names in os.walk(PACKAGE):
    for name in names:
      if name.endswith(".py"):
        path = os.path.join(directory, name)
        dotted = os.path.relpath(path[:-3], ROOT).replace(os.sep, ".")
        out[dotted.removesuffix(".__init__")] = path
  return out


def imports(path, known):
  """[(line, imported module)] of every tfvae import in `path`, at any
  depth; `from a import b` names the module a.b when it is one."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.level == 0 and (
        node.module or "").split(".")[0] == "tfvae":
      for alias in node.names:
        full = f"{node.module}.{alias.name}"
        if full in known:
          out.append((node.lineno, full))
        elif node.module == PUBLIC_API and alias.name in ROOT_NAMES:
          continue
        else:
          out.append((node.lineno, node.module))
    elif isinstance(node, ast.Import):
      out.extend((node.lineno, alias.name) for alias in node.names
                 if alias.name.split(".")[0] == "tfvae")
  return out


def package_of(module):
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else PUBLIC_API


def test_every_package_has_a_layer_and_a_docstring():
  table = layers()
  found = {package_of(m) for m in modules()} - {PUBLIC_API}
  assert found == set(table), (
      f"in the code, not the doc: {sorted(found - set(table))}; in the doc, "
      f"not the code: {sorted(set(table) - found)}")
  for module, path in modules().items():
    if path.endswith("__init__.py"):
      with open(path) as f:
        assert ast.get_docstring(ast.parse(f.read())), \
            f"{module} has no docstring saying what it owns"


def test_no_module_imports_its_own_layer_or_above():
  table = layers()
  known = modules()
  wrong = []
  for module, path in known.items():
    if module == PUBLIC_API:
      continue
    here = package_of(module)
    for line, target in imports(path, known):
      there = package_of(target)
      if there == here:
        continue
      if there == PUBLIC_API or table[there] >= table[here]:
        wrong.append(f"{os.path.relpath(path, ROOT)}:{line} ({here}, layer "
                     f"{table[here]}) imports {target} (layer "
                     f"{table.get(there, 'API')})")
  assert not wrong, "\n".join(wrong)


def _cycles(graph):
  """Strongly connected components of more than one node (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []
  counter = [0]

  def visit(node):
    index[node] = low[node] = counter[0]
    counter[0] += 1
    stack.append(node)
    on_stack.add(node)
    for other in graph.get(node, ()):
      if other not in index:
        visit(other)
        low[node] = min(low[node], low[other])
      elif other in on_stack:
        low[node] = min(low[node], index[other])
    if low[node] == index[node]:
      component = []
      while True:
        other = stack.pop()
        on_stack.discard(other)
        component.append(other)
        if other == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in list(graph):
    if node not in index:
      visit(node)
  return found


def test_no_import_cycle_between_modules():
  known = modules()
  graph = {module: {target for _, target in imports(path, known)
                    if target in known and target != module
                    and target != PUBLIC_API}
           for module, path in known.items()}
  # A package's __init__ re-exporting its modules is not a cycle with them.
  for module in graph:
    graph[module] = {t for t in graph[module]
                     if not (t == module.rsplit(".", 1)[0])}
  assert not _cycles(graph)


def test_the_checks_see_an_upward_import(tmp_path):
  """The rule's reading of imports catches one written inside a function."""
  path = tmp_path / "probe.py"
  path.write_text("def f():\n  from tfvae.training import trainer\n"
                  "from tfvae import __version__\nfrom tfvae import errors\n")
  known = modules()
  assert sorted(imports(str(path), known)) == [
      (2, "tfvae.training.trainer"), (4, "tfvae.errors")]


@pytest.mark.parametrize("name", ["tfvae/errors.py"])
def test_error_classes_live_in_errors(name):
  del name
  outside = []
  for module, path in modules().items():
    if path.endswith(os.path.join("tfvae", "errors.py")):
      continue
    with open(path) as f:
      tree = ast.parse(f.read())
    for node in tree.body:
      if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
        outside.append(f"{module}.{node.name}")
  assert not outside, outside


MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def test_long_functions_and_modules_say_why():
  """A function over 60 lines carries a `# Long:` comment and a module over
  450 lines a `# Size:` comment, each with its reason."""
  unexplained = []
  for module, path in modules().items():
    with open(path) as f:
      source = f.read()
    lines = source.splitlines()
    if len(lines) > MAX_MODULE_LINES and not any(
        l.startswith("# Size: ") for l in lines):
      unexplained.append(f"{module}: {len(lines)} lines")
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        length = node.end_lineno - node.lineno + 1
        body = lines[node.lineno - 1:node.end_lineno]
        if length > MAX_FUNCTION_LINES and not any(
            l.strip().startswith("# Long: ") for l in body):
          unexplained.append(f"{module}.{node.name}: {length} lines")
  assert not unexplained, unexplained


# Modules that write TensorBoard summaries of their own, outside the home.
SUMMARY_WRITERS_ELSEWHERE = set()


def test_tensorboard_writing_has_one_home():
  """Summaries (`tf.summary.*`) are written in `tfvae.callbacks` only; the
  evaluation's page calls its writers."""
  outside = []
  for module, path in modules().items():
    if package_of(module) == "callbacks" or module in SUMMARY_WRITERS_ELSEWHERE:
      continue
    with open(path) as f:
      for number, line in enumerate(f, 1):
        if "tf.summary." in line and not line.lstrip().startswith("#"):
          outside.append(f"{os.path.relpath(path, ROOT)}:{number}")
  assert not outside, outside
