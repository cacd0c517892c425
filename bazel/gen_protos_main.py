"""Bazel's protobuf code generation: scripts/gen_protos.py over declared inputs.

    gen_protos_main.py <proto_root> <out_root>

The genrule //:protos_py runs this with the .proto files it declares and writes the same
tradestream/v1/*_pb2.py(i) and __init__.py that `make protos` writes, into Bazel's output
tree instead of the source tree.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    proto_root, out_root = (Path(a) for a in argv)
    script = Path(__file__).parent.parent / "scripts" / "gen_protos.py"
    spec = importlib.util.spec_from_file_location("gen_protos", script)
    gen_protos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_protos)
    for path in gen_protos.generate(out_root, proto_root):
        print(f"generated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
