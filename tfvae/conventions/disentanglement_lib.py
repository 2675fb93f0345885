"""disentanglement_lib's BetaVAE and AnnealedVAE (google-research/
disentanglement_lib, commit 76f41e3).

Follows `disentanglement_lib/methods/unsupervised/vae.py` and
`disentanglement_lib/methods/shared/losses.py`:

    reconstruction_loss = reduce_mean(loss_fn(features, reconstructions))
      l2_loss:        reduce_sum(square(x - sigmoid(logits)), [1, 2, 3])   (SSE)
      bernoulli_loss: reduce_sum(sigmoid_cross_entropy_with_logits, 1)    (BCE_sum)
    kl_loss = reduce_mean(0.5 * reduce_sum(mu^2 + exp(logvar) - logvar - 1, [1]))
    BetaVAE (gin "vae"):              loss = rec + beta * kl_loss
    AnnealedVAE (gin "annealed_vae"): loss = rec + gamma * |kl_loss - C(step)|,
                                      C = min(c_max, c_max step / iteration_threshold)

So `l2` is the question's L2/sum units (sigma^2 = 1/2 up to a constant: beta
is beta_l2), `bernoulli` the Bernoulli NLL (beta is beta_eff). The gin
bindings read are `model.model = @vae()` / `@annealed_vae()`, `vae.beta`,
`annealed_vae.gamma`, `annealed_vae.c_max`, `annealed_vae.iteration_threshold`,
`reconstruction_loss.loss_fn = @l2_loss` / `@bernoulli_loss`,
`encoder.num_latent` and `dataset.name` (its observation shape). Other
models (factor_vae, dip_vae, beta_tc_vae) add terms that are not a KL weight
and are refused.
"""

import os
import re

from tfvae.conventions import _common
from tfvae.conventions.convention import Capacity
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "disentanglement_lib"
VERSION = "disentanglement_lib (commit 76f41e3)"
SOURCE = "disentanglement_lib/methods/unsupervised/vae.py"
RECONSTRUCTION_LOSSES = ("l2", "bernoulli")
MODELS = ("beta_vae", "annealed_vae")
# observation_shape of the ground-truth data sets in
# disentanglement_lib/data/ground_truth/named_data.py.
DATASET_SHAPES = {
    "dsprites_full": (64, 64, 1),
    "dsprites_noshape": (64, 64, 1),
    "color_dsprites": (64, 64, 3),
    "noisy_dsprites": (64, 64, 3),
    "scream_dsprites": (64, 64, 3),
    "smallnorb": (64, 64, 1),
    "cars3d": (64, 64, 3),
    "mpi3d_toy": (64, 64, 3),
    "shapes3d": (64, 64, 3),
}


def _convention(model, loss_fn, weight, event_shape, latent_dim,
                capacity=None):
  rec = "SSE" if loss_fn == "l2" else "BCE_sum"
  if model == "annealed_vae":
    formula = f"{rec} + gamma |KL_sum - C(t)|"
    label = f"disentanglement_lib annealed_vae, {loss_fn}"
    weight_name = "annealed_vae.gamma"
    notes = ("gamma is the KL weight while KL > C(t); below C(t) it pushes "
             "the KL up",)
  else:
    formula = f"{rec} + beta KL_sum"
    label = f"disentanglement_lib beta_vae, {loss_fn}"
    weight_name = "vae.beta"
    notes = ()
  if loss_fn == "l2":
    notes += ("l2 squares sigmoid(decoder logits): a Gaussian whose mean is "
              "squashed to (0, 1)",)
  kind = "squared_error" if loss_fn == "l2" else "bce"
  return Convention(kind, event_shape, latent_dim, weight=weight,
                    capacity=capacity, name=PEER, label=label,
                    formula=formula, weight_name=weight_name, notes=notes)


def read(beta=None, gamma=None, c_max=None, iteration_threshold=None,
         reconstruction_loss="bernoulli", input_shape=None, latent_dim=None):
  """A disentanglement_lib BetaVAE (`beta`) or AnnealedVAE (`gamma`).

  Args:
    beta: `vae.beta` (gin.REQUIRED in disentanglement_lib).
    gamma: `annealed_vae.gamma` (an AnnealedVAE; exclusive with beta).
    c_max: `annealed_vae.c_max` in nats (the study's 25 by default).
    iteration_threshold: `annealed_vae.iteration_threshold` (100000).
    reconstruction_loss: "bernoulli" (the unsupervised study's binding) or
      "l2".
    input_shape, latent_dim: the observation shape and `encoder.num_latent`.
  """
  _common.choice("reconstruction_loss", reconstruction_loss,
                 RECONSTRUCTION_LOSSES)
  shape = _common.required("input_shape", _common.parse_shape(input_shape),
                           PEER)
  _common.required("latent_dim", latent_dim, PEER)
  if beta is not None and gamma is not None:
    raise ConfigError("beta (vae.beta) and gamma (annealed_vae.gamma) belong "
                      "to different models; give one")
  if gamma is None:
    if c_max is not None or iteration_threshold is not None:
      raise ConfigError("c_max and iteration_threshold need gamma (an "
                        "annealed_vae)")
    _common.required("beta", beta, PEER)
    return _convention("beta_vae", reconstruction_loss,
                       _common.number("beta", beta), shape, latent_dim)
  capacity = Capacity(
      c_max=_common.number("c_max", 25.0 if c_max is None else c_max),
      steps=100000 if iteration_threshold is None else int(iteration_threshold))
  return _convention("annealed_vae", reconstruction_loss,
                     _common.number("gamma", gamma), shape, latent_dim,
                     capacity)


def targets(event_shape, latent_dim):
  out = []
  for loss_fn in ("l2", "bernoulli"):
    out.append(_convention("beta_vae", loss_fn, 1.0, event_shape, latent_dim))
    out.append(_convention("annealed_vae", loss_fn, 1.0, event_shape,
                           latent_dim, Capacity(25.0, 100000)))
  return out


_BINDING = re.compile(r"^\s*([A-Za-z_][\w./]*)\s*=\s*(.+?)\s*$")
_INCLUDE = re.compile(r"""^\s*include\s+['"](.+)['"]\s*$""")


def parse_gin(path, _seen=None):
  """The `name.param = value` bindings of a gin file (includes followed).

  Values are returned as text; scoped bindings (`scope/name.param`) are kept
  under their full name. Later bindings override earlier ones, as in gin.
  """
  seen = _seen or set()
  real = os.path.realpath(path)
  if real in seen:
    raise ConfigError(f"{path}: include cycle")
  seen.add(real)
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise ConfigError(f"cannot read gin file: {e}") from None
  bindings = {}
  for line in lines:
    line = line.split("#", 1)[0]
    if not line.strip() or line.strip().startswith("import "):
      continue
    include = _INCLUDE.match(line)
    if include:
      target = include.group(1)
      if not os.path.isabs(target) and not os.path.exists(target):
        target = os.path.join(os.path.dirname(path), target)
      bindings.update(parse_gin(target, seen))
      continue
    match = _BINDING.match(line)
    if match:
      bindings[match.group(1)] = match.group(2)
  return bindings


def _gin_value(text):
  text = text.strip()
  if text[:1] in "'\"" and text[-1:] == text[:1]:
    return text[1:-1]
  return text


def read_gin(path, input_shape=None):
  """The convention of a disentanglement_lib model gin file.

  `input_shape` is needed only when `dataset.name` is missing or unknown.
  """
  b = {k: _gin_value(v) for k, v in parse_gin(path).items()}
  model = b.get("model.model", "@vae()").replace("()", "").lstrip("@")
  if model not in ("vae", "annealed_vae"):
    raise ConfigError(f"{path}: model.model = @{model}() is not a beta_vae "
                      "(@vae()) or annealed_vae: its extra terms are not a KL "
                      "weight")
  loss_fn = b.get("reconstruction_loss.loss_fn")
  if loss_fn is None:
    raise ConfigError(f"{path}: reconstruction_loss.loss_fn is not bound "
                      "(gin.REQUIRED)")
  loss_fn = loss_fn.lstrip("@").replace("()", "")
  loss_fn = {"l2_loss": "l2", "bernoulli_loss": "bernoulli"}.get(loss_fn,
                                                                loss_fn)
  if loss_fn not in RECONSTRUCTION_LOSSES:
    raise ConfigError(f"{path}: reconstruction_loss.loss_fn = @{loss_fn} is "
                      "not @l2_loss or @bernoulli_loss")
  latent = b.get("encoder.num_latent")
  if latent is None:
    raise ConfigError(f"{path}: encoder.num_latent is not bound")
  shape = _common.parse_shape(input_shape)
  if shape is None:
    name = b.get("dataset.name")
    if name not in DATASET_SHAPES:
      raise ConfigError(f"{path}: dataset.name = {name!r} has no known shape; "
                        "give input_shape")
    shape = DATASET_SHAPES[name]
  try:
    latent_dim = int(latent)
  except ValueError:
    raise ConfigError(f"{path}: encoder.num_latent = {latent!r} is not an "
                      "integer") from None
  if model == "vae":
    if "vae.beta" not in b:
      raise ConfigError(f"{path}: vae.beta is not bound (gin.REQUIRED)")
    return read(beta=b["vae.beta"], reconstruction_loss=loss_fn,
                input_shape=shape, latent_dim=latent_dim)
  for key in ("annealed_vae.gamma", "annealed_vae.c_max",
              "annealed_vae.iteration_threshold"):
    if key not in b:
      raise ConfigError(f"{path}: {key} is not bound (gin.REQUIRED)")
  try:
    threshold = int(float(b["annealed_vae.iteration_threshold"]))
  except ValueError:
    raise ConfigError(f"{path}: annealed_vae.iteration_threshold is not a "
                      "number") from None
  return read(gamma=b["annealed_vae.gamma"], c_max=b["annealed_vae.c_max"],
              iteration_threshold=threshold, reconstruction_loss=loss_fn,
              input_shape=shape, latent_dim=latent_dim)
