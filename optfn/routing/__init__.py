"""Routing: which trainable parameter goes where (route, decay, LR scale), and why."""

from optfn.routing.partition import ParamEntry, Partition, RoutingWarning, partition_params

__all__ = ["ParamEntry", "Partition", "RoutingWarning", "partition_params"]
