"""Adapters for training frameworks; each module imports its framework, so import it directly
(``from optfn.integrations.lightning import LearningRateMonitor``). This ``__init__`` imports
nothing."""
