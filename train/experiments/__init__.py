"""Reproducible experiments built on the training loop (each runnable with `python -m`)."""
