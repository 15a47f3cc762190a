"""Schedules read from other libraries' schedulers, as optfn specs (closed forms of the step).

- :func:`schedule_from_torch`: a live ``torch.optim.lr_scheduler`` object;
- :func:`schedule_from_hf`: a Hugging Face ``transformers`` schedule.

>>> import torch
>>> from optfn.convert import schedule_from_torch
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
>>> schedule_from_torch(torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9))
ExponentialDecay(gamma=0.9, ...)
"""

from optfn.convert.hf import HF_SCHEDULER_NAMES, schedule_from_hf
from optfn.convert.torch_schedulers import base_lrs_from_torch, schedule_from_torch

__all__ = [
    "HF_SCHEDULER_NAMES",
    "base_lrs_from_torch",
    "schedule_from_hf",
    "schedule_from_torch",
]
