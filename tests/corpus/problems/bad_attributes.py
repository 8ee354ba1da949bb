"""A Problem whose ``inputs`` is a number instead of a tuple of names."""

from pinnkit import Box, Problem


class Heat(Problem):
    inputs = 2
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    equations = {"heat": "u_t - u_xx"}
