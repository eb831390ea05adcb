"""Evaluator with a per-payload report (predictions table, scatter PNG) beside TFMA's output."""
