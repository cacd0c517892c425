#!/bin/sh
echo "bazel coverage is not available with the offline --config=local (use pytest --cov)" >&2
exit 1
