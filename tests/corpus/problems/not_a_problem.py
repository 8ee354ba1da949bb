"""A file whose Heat class is not a pinnkit Problem (corpus case problem_class_not_a_problem)."""


class Heat:
    inputs = ("x", "t")
    outputs = ("u",)
