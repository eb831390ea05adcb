"""Print the mutation score of a ``make mutate`` run from mutmut's CI/CD stats JSON.

Score = killed (including timeouts) / mutants that were tested or had no test; skipped mutants
(excluded by configuration) do not count.
"""
from __future__ import annotations

import json
import sys


def mutation_score(stats: dict) -> float:
    """Percentage of counted mutants that a test killed (a timeout counts as killed)."""
    killed = stats["killed"] + stats["timeout"]
    counted = killed + stats["survived"] + stats["no_tests"] + stats["suspicious"] + stats["segfault"]
    return 100.0 * killed / counted if counted else 0.0


def main(path: str) -> int:
    with open(path) as handle:
        stats = json.load(handle)
    print(f"mutation score: {mutation_score(stats):.1f}% ({stats['killed'] + stats['timeout']} killed of "
          f"{stats['total'] - stats['skipped']}; survived {stats['survived']}, no tests {stats['no_tests']}, "
          f"suspicious {stats['suspicious']}); survivors are listed below and explained in "
          "tests/mutation_survivors.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
