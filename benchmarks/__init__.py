"""Throughput and memory benchmarks; each ``bench_*.py`` module has ``run(quick) -> dict``."""
