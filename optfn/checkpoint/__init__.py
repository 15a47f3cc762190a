"""Checkpoints of a run's optimization state that ``torch.load(..., weights_only=True)`` reads.

A checkpoint holds plain data only: the config (``to_dict`` of any registered spec), the
optimizer's ``state_dict``, the name and shape of every parameter in every param group, and
optionally the scheduler's and the model's ``state_dict`` and small ``extra`` values (step
counters...). Nothing in it is pickled code.

Restoring checks that the fresh optimizer holds the same parameters, by name and shape, in the
same groups and order as the saved one, and names the first one that differs (a
:class:`~optfn.errors.StateError`). (torch's own
``load_state_dict`` matches by position only, so it would load one parameter's moments into
another of the same shape.) Every param group needs a ``"param_names"`` list, which the groups
of :func:`optfn.make_optimizer` have.

Reliability:

- :func:`save_checkpoint` refuses, before writing, an ``extra`` value that
  ``torch.load(weights_only=True)`` could not read back: ``extra`` holds ``None``, ``bool``,
  ``int``, ``float``, ``str``, ``bytes``, tensors, and lists, tuples and dicts (string keys) of
  them, at most :data:`~optfn.io.MAX_DEPTH` levels deep. It writes a temporary file and renames
  it, so a failure leaves an old checkpoint whole.
- :func:`load_checkpoint` turns every way a file can be wrong (missing, empty, truncated, not a
  checkpoint, a missing or malformed entry, another version) into a
  :class:`~optfn.errors.StateError` (a :class:`~optfn.errors.ConfigError` for the config),
  with anything taken from the file escaped.
- :func:`restore` checks everything first (layout, optimizer state and its tensors' shapes,
  scheduler state, model state), then loads; a refused restore changes nothing, and a failure
  while loading the optimizer or the scheduler puts both back as they were. The model is loaded
  last, after its keys and shapes were checked.

>>> import tempfile, torch
>>> from pathlib import Path
>>> from optfn import AdamWSpec
>>> from optfn.checkpoint import load_checkpoint, restore, save_checkpoint
>>> model = torch.nn.Linear(2, 1)
>>> def fresh():
...     groups = [{"params": list(model.parameters()), "param_names": ["weight", "bias"]}]
...     return torch.optim.AdamW(groups, lr=1e-3)
>>> opt = fresh()
>>> model(torch.ones(1, 2)).sum().backward(); opt.step()
>>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
>>> save_checkpoint(path, config=AdamWSpec(), optimizer=opt, model=model)
>>> ckpt = load_checkpoint(path)
>>> ckpt.config == AdamWSpec()
True
>>> opt2 = fresh()
>>> restore(ckpt, opt2, model=model)
>>> opt2.state_dict()["state"][0]["step"]
tensor(1.)

In parts: :mod:`optfn.checkpoint.files` (the format, :func:`save_checkpoint`,
:func:`load_checkpoint`), :mod:`optfn.checkpoint.restore` (:func:`restore`: check everything,
then load, undo on failure), :mod:`optfn.checkpoint.state_checks` (the checks of the
optimizer's and the scheduler's states) and :mod:`optfn.checkpoint.wrapper_keys` (the model's
state matched by name through ``torch.compile`` and DDP wrappers).
"""

from optfn.checkpoint.files import (
    FORMAT,
    Checkpoint,
    check_extra,
    check_layout,
    load_checkpoint,
    param_layout,
    save_checkpoint,
)
from optfn.checkpoint.restore import restore

__all__ = [
    "FORMAT",
    "Checkpoint",
    "check_extra",
    "check_layout",
    "load_checkpoint",
    "param_layout",
    "restore",
    "save_checkpoint",
]
