"""optfn: optimizers and LR schedules for PyTorch from frozen, serializable specs."""
