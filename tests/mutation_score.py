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


def not_tested(stats: dict) -> int:
    """Mutants without a verdict yet (a run that was stopped, or a rerun of named mutants only)."""
    decided = sum(stats[key] for key in ("killed", "timeout", "survived", "no_tests", "suspicious", "segfault",
                                         "skipped", "check_was_interrupted_by_user"))
    return stats["total"] - decided


def main(path: str) -> int:
    with open(path) as handle:
        stats = json.load(handle)
    untested = not_tested(stats)
    counted = stats["total"] - stats["skipped"] - untested
    print(f"mutation score: {mutation_score(stats):.1f}% of the {counted} mutants tested "
          f"({stats['killed'] + stats['timeout']} killed, {stats['timeout']} of them by a timeout; survived "
          f"{stats['survived']}, no tests {stats['no_tests']}, suspicious {stats['suspicious']}); "
          f"not tested yet: {untested} of {stats['total']}; survivors are listed below and explained in "
          "tests/mutation_survivors.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
