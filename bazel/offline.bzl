"""Rule repositories that Bazel 4 downloads, with an offline alternative (--config=local).

Bazel 4.2.3 itself needs rules_cc, rules_java and remote_coverage_tools for any py_test (its
built-in tools load them). Online, `offline_or_archive` downloads exactly what Bazel would
(same URLs and checksums as its default WORKSPACE). With TRADESTREAM_BAZEL_OFFLINE=1 (set by
`--config=local` through --repo_env) it links a local directory instead: Debian's
bazel-rules-java package for rules_java, the stand-ins under bazel/local_repos/ for the
other two.
"""

def _offline_or_archive_impl(ctx):
    if ctx.os.environ.get("TRADESTREAM_BAZEL_OFFLINE", "") == "1":
        path = ctx.attr.local_path
        if not path.startswith("/"):
            path = str(ctx.path(Label("//:WORKSPACE")).dirname) + "/" + path
        source = ctx.path(path)
        if not source.exists:
            fail("%s: %s does not exist (%s)" % (ctx.name, path, ctx.attr.hint))
        for child in source.readdir():
            ctx.symlink(child, child.basename)
    else:
        ctx.download_and_extract(
            url = ctx.attr.urls,
            sha256 = ctx.attr.sha256,
            stripPrefix = ctx.attr.strip_prefix,
        )

offline_or_archive = repository_rule(
    implementation = _offline_or_archive_impl,
    attrs = {
        "local_path": attr.string(mandatory = True, doc = "absolute, or relative to the workspace"),
        "hint": attr.string(default = "", doc = "how to get local_path"),
        "urls": attr.string_list(mandatory = True),
        "sha256": attr.string(mandatory = True),
        "strip_prefix": attr.string(default = ""),
    },
    environ = ["TRADESTREAM_BAZEL_OFFLINE"],
)
