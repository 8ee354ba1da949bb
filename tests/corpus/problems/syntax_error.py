"""A problem file that is not valid Python (corpus case problem_file_syntax_error)."""

class Heat(Problem)
    inputs = ("x", "t")
