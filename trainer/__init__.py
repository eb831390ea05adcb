"""Enformer (Sonnet), heads, input functions, the TFX run_fn, export and metrics."""
