"""A Problem whose constructor needs an argument the config cannot give."""

from pinnkit import Box, Problem


class Heat(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    equations = {"heat": "u_t - u_xx"}

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha_value = alpha
