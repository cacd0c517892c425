"""Entry point of every py_test: runs pytest on the test files given as arguments.

    bazel test //:strategies_test    ->  pytest -m "not integration" tests/strategies/...

Bazel runs the test from its runfiles tree (the sources, the generated protobuf modules and
the tests, nothing else); pytest's root is that tree, so `tests.conftest` and the packages
import from there. Integration tests (real Kafka, Flink) stay with `make test`. Exit code 5
(every test in the files is an integration test, so none ran) counts as success.
"""

from __future__ import annotations

import os
import sys

import pytest


def main(argv: list[str]) -> int:
    # Run from the runfiles root so that relative test paths and the `tests` package resolve.
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = [
        # Bazel caches a test's result by its inputs: a fixed Hypothesis seed makes each run
        # reproducible (and the database of earlier examples cannot persist in a sandbox).
        "--hypothesis-seed=0",
        "-p",
        "no:cacheprovider",
        "-m",
        "not integration",
        "-o",
        "addopts=",
        *argv,
    ]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    code = pytest.main(args)
    return 0 if code == pytest.ExitCode.NO_TESTS_COLLECTED else int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
