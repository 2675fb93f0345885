"""A constant or scheduled KL weight: loss_i = rec_i + w(t) kl_i.

`KLWeight` puts the weight as written on the reduced KL term: the
`Weighting`'s beta (or converted beta_norm) by default, or `w(t)` from a
schedule, a pure function of the global step t (`tfvae.balancing.schedules`:
linear and sigmoid warm-up, Bowman et al. 2016; cyclical annealing, Fu et al.
2019). The weight is computed inside the training step from the step counter,
so it is exact at every step whatever `steps_per_execution` is, and a resumed
run continues the schedule where the checkpoint left it.

Effective beta (ELBO units): beta_eff = w K_r / J_r.
"""

import functools
from typing import Callable, Optional

import tensorflow as tf

from tfvae.balancing import schedules
from tfvae.balancing.base import Balanced
from tfvae.balancing.base import Balancer
from tfvae.balancing.base import register
from tfvae.objectives import balanced


def schedule_config(schedule):
  """{"name": ..., **arguments} of a built-in schedule (`make_schedule`).

  Raises ValueError for any other Python function: its code cannot be
  saved with the model.
  """
  if isinstance(schedule, functools.partial) and not schedule.args:
    for name in schedules.SCHEDULE_NAMES:
      if schedules.schedule_function(name) is schedule.func:
        return {"name": name, **schedule.keywords}
  raise ValueError(
      f"schedule {schedule!r} is a Python function, which cannot be saved "
      "with the model; use a built-in schedule "
      "(tfvae.schedules.make_schedule or the Linear, Sigmoid, Cyclical "
      "balancers), or save the weights only (model.save_weights)")


@register("constant")
class KLWeight(Balancer):
  """The weight as written, constant or from `schedule(step)`.

  Args:
    schedule: `step -> weight` (a traceable TF function), a built-in
      schedule as {"name": ..., **its arguments} (what `get_config` stores),
      or None for the `Weighting`'s weight at every step.
  """

  # Chosen by the general section's --kl_schedule, not by --balancer.
  selectable = False

  def __init__(self, schedule: Optional[Callable] = None, name="balancer",
               **kwargs):
    super().__init__(name=name, **kwargs)
    if isinstance(schedule, dict):
      settings = dict(schedule)
      schedule = schedules.make_schedule(settings.pop("name"), **settings)
    self.schedule = schedule

  def get_config(self):
    config = super().get_config()
    if self.schedule is not None:
      config["schedule"] = schedule_config(self.schedule)
    return config

  @classmethod
  def from_config_section(cls, section, context):
    del section, context
    return cls()

  def weight(self, terms, step):
    if self.schedule is None:
      return tf.constant(terms.kl_weight, tf.float32)
    return tf.cast(self.schedule(step), tf.float32)

  def balance(self, terms, step, training):
    weight = self.weight(terms, step)
    per_example, kl_coef, nll_coef = balanced.weighted_loss(
        terms.rec, terms.kl, weight, terms.rec_divisor, terms.kl_divisor)
    return Balanced(per_example=per_example, kl_weight=weight,
                    beta_eff=kl_coef / nll_coef)


class _Scheduled(KLWeight):
  """A schedule from `start` to `stop` (default: the Weighting's weight)."""

  schedule_name = ""

  def __init__(self, start=0.0, stop=None, name="balancer", **schedule_args):
    # Checked now: bad arguments fail at construction, not inside fit.
    schedules.make_schedule(self.schedule_name, start=start,
                            stop=1.0 if stop is None else stop,
                            **schedule_args)
    super().__init__(name=name)
    self.start = start
    self.stop = stop
    self.schedule_args = schedule_args

  def get_config(self):
    return {"name": self.name, "start": self.start, "stop": self.stop,
            **self.schedule_args}

  def weight(self, terms, step):
    stop = terms.kl_weight if self.stop is None else self.stop
    schedule = schedules.make_schedule(self.schedule_name, start=self.start,
                                       stop=stop, **self.schedule_args)
    return tf.cast(schedule(step), tf.float32)


@register("linear")
class Linear(_Scheduled):
  """Linear warm-up over `warmup_steps` (Bowman et al. 2016)."""

  schedule_name = "linear"

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.kl_warmup_steps, start=section.kl_start,
               stop=section.kl_stop)

  def __init__(self, warmup_steps, start=0.0, stop=None, **kwargs):
    super().__init__(start=start, stop=stop, warmup_steps=warmup_steps,
                     **kwargs)


@register("sigmoid")
class Sigmoid(_Scheduled):
  """Logistic warm-up, k = 10 / T and x0 = T / 2 by default."""

  schedule_name = "sigmoid"

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.kl_warmup_steps, start=section.kl_start,
               stop=section.kl_stop, k=section.kl_sigmoid_k,
               x0=section.kl_sigmoid_x0)

  def __init__(self, warmup_steps, start=0.0, stop=None, k=None, x0=None,
               **kwargs):
    super().__init__(start=start, stop=stop, warmup_steps=warmup_steps, k=k,
                     x0=x0, **kwargs)


@register("cyclical")
class Cyclical(_Scheduled):
  """Cyclical annealing (Fu et al. 2019): `n_cycles` ramps over `total_steps`."""

  schedule_name = "cyclical"

  @classmethod
  def from_config_section(cls, section, context):
    # The period defaults to the whole run.
    period = section.kl_warmup_steps or context.total_steps
    return cls(period, n_cycles=section.kl_cycles,
               ratio=section.kl_cycle_ratio, shape=section.kl_cycle_shape,
               start=section.kl_start, stop=section.kl_stop)

  def __init__(self, total_steps, n_cycles=4, ratio=0.5, shape="linear",
               start=0.0, stop=None, **kwargs):
    super().__init__(start=start, stop=stop, total_steps=total_steps,
                     n_cycles=n_cycles, ratio=ratio, shape=shape, **kwargs)
