"""Building: partition -> param groups -> the torch optimizer."""

from optfn.build.groups import make_param_groups
from optfn.build.optimizer import make_optimizer

__all__ = ["make_optimizer", "make_param_groups"]
