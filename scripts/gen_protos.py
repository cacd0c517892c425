"""Generate the Python modules of protos/ (package tradestream.v1).

The `.proto` files under protos/ are the source of truth; the generated
`tradestream/v1/*_pb2.py` (and `.pyi` stubs) are build output, never edited by
hand and never committed. `make protos` (part of `make demo` / `make test`) runs:

    python scripts/gen_protos.py            # write into the repository
    python scripts/gen_protos.py --check    # exit 1 if the generated code is stale

Requires grpcio-tools (a dev dependency), which carries protoc.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTO_ROOT = REPO / "protos"
PACKAGE_DIR = Path("tradestream") / "v1"
INIT_TEXT = '"""Generated from protos/tradestream/v1 by scripts/gen_protos.py. Do not edit."""\n'


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    files = sorted((proto_root / PACKAGE_DIR).glob("*.proto"))
    if not files:
        raise SystemExit(f"no .proto files under {proto_root / PACKAGE_DIR}")
    return files


def generate(out_root: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Runs protoc over every .proto and returns the generated files."""
    import grpc_tools
    from grpc_tools import protoc  # imported late: only needed when generating

    include = Path(grpc_tools.__file__).parent / "_proto"
    out_root.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        *[str(p.relative_to(proto_root)) for p in proto_files(proto_root)],
    ]
    # protoc resolves relative .proto paths against the -I roots.
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")
    package = out_root / PACKAGE_DIR
    (package / "__init__.py").write_text(INIT_TEXT)
    return sorted(p for p in package.iterdir() if p.is_file())


def stale_files(repo_root: Path = REPO, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Names of generated files that differ from a fresh generation (or are missing/extra)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(Path(tmp), proto_root)}
        current_dir = repo_root / PACKAGE_DIR
        current = (
            {p.name: p for p in current_dir.iterdir() if p.is_file()}
            if current_dir.is_dir()
            else {}
        )
        problems = []
        for name, path in fresh.items():
            if name not in current:
                problems.append(f"{name}: missing")
            elif not filecmp.cmp(path, current[name], shallow=False):
                problems.append(f"{name}: differs from protos/")
        for name in current:
            if name.endswith((".py", ".pyi")) and name not in fresh:
                problems.append(f"{name}: no .proto produces it")
        return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify; exit 1 if stale")
    parser.add_argument("--out", type=Path, default=REPO, help="output root (default: repo)")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale_files(args.out)
        for p in problems:
            print(f"stale generated code: {p}", file=sys.stderr)
        if problems:
            print("run `make protos` to regenerate", file=sys.stderr)
        return 1 if problems else 0
    for path in generate(args.out):
        print(f"generated {path.relative_to(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
