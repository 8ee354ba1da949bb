"""Engine: which derivative engine ``model.engine: auto`` will use, when it is not taylor.

``auto`` reads a network with the ``taylor`` engine when every layer has a Taylor rule
(pinnkit's MLP, or a user's ``nn.Sequential`` of Linear and smooth activation layers) and
falls back to ``autograd`` otherwise. The fallback is correct but costs more per step
(nested reverse mode differentiates the graph once per derivative order), so it is said
once, with the layer that caused it, instead of silently.
"""

from __future__ import annotations

from ..engines import taylor_unsupported
from .findings import Context, Finding

#: the layers named in the fix; the full list is engines.taylor_layers.RULES
_SUGGESTED = "nn.Linear, nn.Tanh, nn.SiLU, nn.GELU, nn.Softplus, nn.Sigmoid"


def check_engine(ctx: Context) -> list[Finding]:
    """A warning when ``model.engine: auto`` falls back to autograd, naming the layer."""
    if ctx.cfg.model.engine != "auto":
        return []
    why = taylor_unsupported(ctx.model)
    if why is None:
        return []
    msg = (f"'auto' uses the autograd engine for this network: {why} (autograd, nested "
           "reverse mode, is slower per step than taylor's one forward pass)")
    fix = (f"build the network as an nn.Sequential of layers with a rule ({_SUGGESTED}) to "
           "get the taylor engine, or write model.engine: autograd to choose autograd")
    return [ctx.finding("warning", "engine", "model.engine", msg, fix)]


__all__ = ["check_engine"]
