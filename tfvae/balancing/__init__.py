"""Balancing methods: what is optimised from a batch's true terms.

Every method is one `Balancer` (`tfvae.balancing.base`), registered by name:

| name | class | method |
|---|---|---|
| constant | `KLWeight` | the Weighting's beta (or beta_norm) |
| linear, sigmoid, cyclical | `Linear`, `Sigmoid`, `Cyclical` | KL weight schedules (Bowman et al. 2016; Fu et al. 2019) |
| free_bits | `FreeBits` | a floor on each dimension's KL, around any other (Kingma et al. 2016) |
| capacity | `Capacity` | gamma abs(KL - C(t)) (Burgess et al. 2018) |
| geco | `GECO` | a reconstruction target (Rezende & Viola 2018) |
| controlvae | `ControlVAE` | a PI controller on the KL (Shao et al. 2020) |
| beta_tcvae | `BetaTCVAE` | alpha MI + beta TC + gamma dim-KL (Chen et al. 2018) |
| factorvae | `FactorVAE` | KL + gamma TC from a discriminator (Kim & Mnih 2018) |
| dip_vae_i, dip_vae_ii | `DIPVAEI`, `DIPVAEII` | KL + a covariance penalty (Kumar et al. 2018) |

`get(name, **kwargs)` builds one by name, `lookup(name)` gives its class
(whose `from_config_section` reads the command line's settings), `names()`
lists them, `selectable()` gives the `--balancer=` choices' classes and
`settings_fields()` their settings. The pure math lives in `schedules`,
`controllers`, `free_bits` and `tfvae.objectives.balanced`.

A new method is its module (`tfvae.balancing.base` says what its class
declares) and its import below: the config, the flags, the ignored-flag
rules, the sweep report and the translator read the registry.
"""

from tfvae.balancing.base import Balanced
from tfvae.balancing.base import Balancer
from tfvae.balancing.base import BuildContext
from tfvae.balancing.base import Terms
from tfvae.balancing.base import get
from tfvae.balancing.base import lookup
from tfvae.balancing.base import names
from tfvae.balancing.base import register
from tfvae.balancing.base import selectable
from tfvae.balancing.base import settings_fields
# The selectable methods register in the order of --balancer's choices (and
# of their settings in the config): keep these imports in that order.
from tfvae.balancing.capacity import Capacity
from tfvae.balancing.geco import GECO
from tfvae.balancing.controlvae import ControlVAE
from tfvae.balancing.beta_tcvae import BetaTCVAE
from tfvae.balancing.factorvae import FactorVAE
from tfvae.balancing.dip_vae import DIPVAEI
from tfvae.balancing.dip_vae import DIPVAEII
from tfvae.balancing.free_bits import FreeBits
from tfvae.balancing.weight import Cyclical
from tfvae.balancing.weight import KLWeight
from tfvae.balancing.weight import Linear
from tfvae.balancing.weight import Sigmoid

Constant = KLWeight

__all__ = ["Balanced", "Balancer", "BuildContext", "Terms", "get", "lookup",
           "names", "register", "selectable", "settings_fields",
           "KLWeight", "Constant", "Linear", "Sigmoid", "Cyclical", "FreeBits",
           "Capacity", "GECO", "ControlVAE", "BetaTCVAE", "FactorVAE",
           "DIPVAEI", "DIPVAEII"]
