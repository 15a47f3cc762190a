"""The table of kinds (every spec class by tag; optimizers with their routes and builders) and
optfn's own torch optimizers (Muon + AdamW, NorMuon + Adam)."""
