"""A repository rule that makes the project's virtualenv Bazel's Python runtime.

py_runtime needs an absolute interpreter path, which differs per checkout; this rule finds
it when the workspace is loaded: $TRADESTREAM_PYTHON if set, else <workspace>/.venv/bin/python3
(created by `make install`). The venv carries every Python dependency, so Bazel fetches none.
"""

_BUILD = """\
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")

py_runtime(
    name = "python3",
    interpreter_path = "{interpreter}",
    python_version = "PY3",
    visibility = ["//visibility:public"],
)

py_runtime_pair(
    name = "runtime_pair",
    py3_runtime = ":python3",
)

toolchain(
    name = "toolchain",
    toolchain = ":runtime_pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
    visibility = ["//visibility:public"],
)
"""

def _local_venv_impl(ctx):
    interpreter = ctx.os.environ.get("TRADESTREAM_PYTHON", "")
    if not interpreter:
        workspace = ctx.path(Label("//:WORKSPACE")).dirname
        interpreter = str(workspace) + "/.venv/bin/python3"
    if not ctx.path(interpreter).exists:
        fail("no Python interpreter at %s: run `make install` first (or set TRADESTREAM_PYTHON)" % interpreter)
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD.bazel", _BUILD.format(interpreter = interpreter))

local_venv = repository_rule(
    implementation = _local_venv_impl,
    environ = ["TRADESTREAM_PYTHON"],
    local = True,
)
