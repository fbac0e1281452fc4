"""alignment_math: the math of LLM alignment in pure NumPy."""
