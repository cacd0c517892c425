"""The JVM side of the local runtime, resolved by Maven from Maven Central.

Two components, each described by a small pom under scripts/jvm/:

* `kafka`: the Apache Kafka broker and its runtime dependencies;
* `beam`: Beam's Flink runner (job server) and Java Kafka IO (expansion service),
  assembled from Beam's modules, with two thin launcher jars written next to them; one
  class of Beam's is replaced by TradeStream's (scripts/jvm/beam/src/, built into
  lib/tradestream-beam-patches.jar, first on the launchers' class path).

Everything lands in `<state_dir>/jvm/` (never committed). A component is fetched
again only when its pom changes (a stamp file records the pom's hash).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tradestream.runtime.errors import LocalRuntimeError
from tradestream.settings import Settings, repo_root

JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
EXPANSION_SERVICE_MAIN = "org.apache.beam.sdk.expansion.service.ExpansionService"
COMPONENTS = ("kafka", "beam")
PATCHES_PREFIX = "tradestream-"
# Flink's checkpointing serialises JDK collections by reflection; Java 17 needs these
# packages opened (else every checkpoint is declined with InaccessibleObjectException).
JAVA17_OPENS = (
    "java.base/java.util java.base/java.lang java.base/java.lang.reflect java.base/java.io "
    "java.base/java.nio java.base/sun.nio.ch java.base/java.net java.base/java.text "
    "java.base/java.time java.base/java.util.concurrent java.base/java.util.concurrent.atomic "
    "java.base/java.util.concurrent.locks"
)


@dataclass(frozen=True)
class JvmLayout:
    """Where each part of the JVM toolchain lives under the state directory."""

    root: Path

    @property
    def kafka_lib(self) -> Path:
        return self.root / "kafka"

    @property
    def beam_dir(self) -> Path:
        return self.root / "beam"

    @property
    def beam_lib(self) -> Path:
        return self.beam_dir / "lib"

    @property
    def job_server_jar(self) -> Path:
        return self.beam_dir / "flink-job-server.jar"

    @property
    def expansion_service_jar(self) -> Path:
        return self.beam_dir / "expansion-service.jar"

    def stamp(self, component: str) -> Path:
        return self.root / f".{component}.stamp"

    def output_dir(self, component: str) -> Path:
        return self.kafka_lib if component == "kafka" else self.beam_lib


def find_java() -> str:
    """Path of the `java` executable (JAVA_HOME first), or a clear error."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise LocalRuntimeError(
            "Java was not found: the local Kafka broker and the Flink runner need a Java 17 "
            "runtime. Install OpenJDK 17 (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`) "
            "or set JAVA_HOME."
        )
    return java


def _pom(component: str) -> Path:
    root = repo_root()
    if root is None:
        raise LocalRuntimeError(
            "scripts/jvm/ was not found: `tradestream local fetch` runs from a source checkout. "
            "In a container image the JVM toolchain is baked into the image instead."
        )
    return root / "scripts" / "jvm" / component / "pom.xml"


def _pom_hash(component: str) -> str:
    """The hash of what the component is built from: its pom and any sources beside it."""
    pom = _pom(component)
    digest = hashlib.sha256(pom.read_bytes())
    for source in sorted(pom.parent.glob("src/**/*.java")):
        digest.update(source.relative_to(pom.parent).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def is_fetched(layout: JvmLayout, component: str) -> bool:
    stamp = layout.stamp(component)
    try:
        return stamp.read_text().strip() == _pom_hash(component)
    except (OSError, LocalRuntimeError):
        return False


def _write_launcher(jar: Path, main_class: str, lib: Path) -> None:
    """A jar with only a manifest: `java -jar jar` runs main_class with lib/*.jar.

    TradeStream's own jars (`tradestream-*.jar`: classes of Beam's it replaces, see
    scripts/jvm/beam/pom.xml) come first, so that the JVM loads their classes.
    """
    names = (p.name for p in lib.glob("*.jar"))
    jars = sorted(names, key=lambda name: (not name.startswith(PATCHES_PREFIX), name))
    if not jars:
        raise LocalRuntimeError(f"no jars in {lib}; run `tradestream local fetch --force`")
    class_path = " ".join(f"{lib.name}/{name}" for name in jars)
    lines = [
        "Manifest-Version: 1.0",
        f"Main-Class: {main_class}",
        f"Class-Path: {class_path}",
        f"Add-Opens: {JAVA17_OPENS}",
    ]
    manifest = b"".join(_manifest_line(line) for line in lines) + b"\r\n"
    tmp = jar.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", manifest)
    tmp.replace(jar)


def _manifest_line(line: str) -> bytes:
    """Manifest lines are at most 72 bytes; continuation lines start with a space."""
    raw = line.encode()
    parts = [raw[:72]]
    raw = raw[72:]
    while raw:
        parts.append(b" " + raw[:71])
        raw = raw[71:]
    return b"\r\n".join(parts) + b"\r\n"


def fetch(settings: Settings, force: bool = False, quiet: bool = False) -> JvmLayout:
    """Resolves every component into the cache unless it is already there.

    Args:
        settings: where the cache lives and which Maven to run.
        force: fetch again even when the stamp says the cache is current.
        quiet: print nothing when there is nothing to do.

    Returns:
        The layout of the cache.
    """
    layout = JvmLayout(settings.jvm_dir)
    find_java()
    for component in COMPONENTS:
        if not force and is_fetched(layout, component):
            if not quiet:
                print(f"[local] {component}: cached in {layout.output_dir(component)}")
            continue
        mvn = shutil.which(settings.maven)
        if not mvn:
            raise LocalRuntimeError(
                f"Maven (`{settings.maven}`) was not found; it resolves the Kafka and Beam/Flink "
                "jars from Maven Central. Install it (Debian/Ubuntu: `apt-get install maven`)."
            )
        out = layout.output_dir(component)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        print(f"[local] {component}: resolving jars from Maven Central into {out} ...", flush=True)
        cmd = [mvn, "-B", "-q", "-f", str(_pom(component)), "package", f"-Dtradestream.out={out}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise LocalRuntimeError(f"Maven could not resolve the {component} jars:\n{tail}")
        layout.stamp(component).write_text(_pom_hash(component) + "\n")
        print(f"[local] {component}: {len(list(out.glob('*.jar')))} jars", flush=True)
    # Cheap and idempotent: launchers always match this code's manifest.
    _write_launcher(layout.job_server_jar, JOB_SERVER_MAIN, layout.beam_lib)
    _write_launcher(layout.expansion_service_jar, EXPANSION_SERVICE_MAIN, layout.beam_lib)
    return layout


def require(settings: Settings, component: str) -> JvmLayout:
    """The layout, fetching `component` first if it is missing (with a message)."""
    layout = JvmLayout(settings.jvm_dir)
    if not is_fetched(layout, component):
        print(f"[local] the {component} jars are not cached yet; fetching them now", flush=True)
        fetch(settings, quiet=True)
    return layout
