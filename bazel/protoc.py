"""protoc from grpcio-tools (a dev dependency in the venv): Bazel's --proto_compiler.

proto_library runs it to check the .proto files and write descriptor sets, so no C++
protobuf toolchain has to be built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

if __name__ == "__main__":
    include = Path(grpc_tools.__file__).parent / "_proto"
    sys.exit(protoc.main(["protoc", f"-I{include}", *sys.argv[1:]]))
