"""optfn's rules before the model-zoo defaults: the baseline of ``zoo_hf.py``, ``zoo_timm.py``."""

from __future__ import annotations

from optfn import MuonRouting, ParamRules
from optfn.specs.rules import NORM_LAYER_TYPES

#: The default ``ParamRules()`` before: torch's norm classes, the epoch-based builders' names.
OLD_RULES = ParamRules(
    no_decay_types=NORM_LAYER_TYPES,
    no_decay_names=("bias", "*_bias", "cls_token", "pos_embed"),
    model_no_weight_decay=False,
)
#: ``MuonRouting.hidden_matrices()`` before: any ndim >= 2 but embeddings and heads by name.
OLD_MUON = MuonRouting(
    include=("*",),
    exclude=("*embed*", "head.*", "lm_head.*", "scoring_head.*", "classifier.*", "output.*"),
    exclude_types=("Embedding", "EmbeddingBag"),
)
