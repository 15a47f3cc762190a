"""The optimizer table and optfn's own torch optimizers (Muon + AdamW)."""
