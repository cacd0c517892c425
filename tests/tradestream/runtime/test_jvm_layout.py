"""The job server's launcher and cache stamp: TradeStream's replacement of a Beam class must
be loaded ahead of Beam's, and a change to its source must rebuild the cache."""

from __future__ import annotations

import zipfile

from tradestream.runtime import jvm


def _class_path(jar) -> list[str]:
    manifest = zipfile.ZipFile(jar).read("META-INF/MANIFEST.MF").decode()
    # Continuation lines start with a space and continue the line before.
    joined = manifest.replace("\r\n ", "")
    line = next(x for x in joined.splitlines() if x.startswith("Class-Path: "))
    return line.removeprefix("Class-Path: ").split()


def test_the_launcher_puts_tradestreams_jars_before_beams(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("beam-runners-java-fn-execution-2.62.0.jar", "a-first-by-name.jar",
                 "tradestream-beam-patches.jar", "zz.jar"):  # fmt: skip
        (lib / name).write_bytes(b"")
    launcher = tmp_path / "flink-job-server.jar"
    jvm._write_launcher(launcher, jvm.JOB_SERVER_MAIN, lib)
    assert _class_path(launcher) == [
        "lib/tradestream-beam-patches.jar",
        "lib/a-first-by-name.jar",
        "lib/beam-runners-java-fn-execution-2.62.0.jar",
        "lib/zz.jar",
    ]


def test_the_beam_stamp_covers_the_replaced_classes_sources(tmp_path, monkeypatch):
    beam = tmp_path / "scripts" / "jvm" / "beam"
    source = beam / "src" / "main" / "java" / "Patch.java"
    source.parent.mkdir(parents=True)
    (beam / "pom.xml").write_text("<project/>")
    source.write_text("class Patch {}")
    monkeypatch.setattr(jvm, "repo_root", lambda: tmp_path)
    before = jvm._pom_hash("beam")
    source.write_text("class Patch { int x; }")
    assert jvm._pom_hash("beam") != before
