"""Evaluator with a report beside TFMA's output: per-payload predictions and scatter for payload
models, per-track Pearson r and predicted-vs-measured windows for track models."""
