"""The images' build context (scripts/k8s/images.sh) holds every file the Dockerfiles copy.

The context is an explicit list of repository paths, not the whole tree; a Dockerfile that
COPYs a path outside it fails only when the images are built (`make k8s-up`): the job
server's image did, when its Dockerfile began to copy `scripts/jvm/beam/src`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def context_paths() -> list[str]:
    """The repository paths images.sh puts into the build context (its `tar -c` command)."""
    script = (REPO / "scripts" / "k8s" / "images.sh").read_text()
    command = script[script.index("tar -c") : script.index(") > $ctx")]
    words = shlex.split(command.replace("\\\n", " "))
    return [w for w in words[2:] if not w.startswith("-")]


def copied_sources() -> list[tuple[str, str]]:
    """(Dockerfile, source path) of every COPY from the build context (not --from a stage)."""
    out = []
    for dockerfile in sorted((REPO / "docker").glob("*.Dockerfile")):
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
                continue
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            out += [(dockerfile.name, s) for s in sources]
    return out


def test_every_copied_path_is_in_the_build_context():
    paths = context_paths()
    assert "docker" in paths and "scripts/jvm/beam/pom.xml" in paths
    copied = copied_sources()
    assert ("job-server.Dockerfile", "scripts/jvm/beam/src") in copied
    for dockerfile, source in copied:
        source = re.sub(r"/+$", "", source)
        inside = any(source == p or source.startswith(p + "/") for p in paths)
        assert inside, f"{dockerfile} copies {source}, which images.sh leaves out of the context"
        assert (REPO / source).exists(), f"{dockerfile} copies {source}, which does not exist"
