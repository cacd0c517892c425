"""pytest_test: a py_test that runs pytest (bazel/pytest_main.py) over test files."""

def pytest_test(name, srcs, deps = [], data = [], args = [], **kwargs):
    """One py_test running pytest over `srcs` (integration-marked tests deselected).

    Args:
      name: target name.
      srcs: the test files (test_*.py) pytest collects.
      deps: libraries the tests import.
      data: files the tests read.
      args: extra pytest arguments (e.g. --deselect).
      **kwargs: passed to py_test (size, timeout, tags, ...).
    """
    native.py_test(
        name = name,
        srcs = ["//bazel:pytest_main.py"] + srcs,
        main = "//bazel:pytest_main.py",
        python_version = "PY3",
        args = args + ["$(location %s)" % s for s in srcs],
        deps = deps,
        data = data,
        **kwargs
    )
