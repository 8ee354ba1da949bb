"""A problem file that fails while it is imported (corpus case problem_file_raises_on_import)."""

SCALE = 1 / 0
