"""fvcore's ``nn`` tools, imported in one place: FLOP counting and precise BN.

Importing ``fvcore.nn`` scripts a helper with the deprecated ``torch.jit.script``, whose
FutureWarning would otherwise reach every user's console; it is silenced here only.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis, flop_count_table
    from fvcore.nn.precise_bn import update_bn_stats

__all__ = ["FlopCountAnalysis", "flop_count_table", "update_bn_stats"]
