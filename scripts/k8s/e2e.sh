#!/bin/bash
# `make k8s-e2e`: the chart on the local cluster (make k8s-up), checked end to end
# (scripts/k8s/e2e.py: parity with `tradestream backtest`, faults, helm upgrade, helm test).
source "$(dirname "$0")/common.sh"
require_host
[ -x $REPO/.venv/bin/tradestream ] || die "the project's virtualenv is missing: run 'make install' first"
[ -x $B/kubectl ] && kubectl get --raw /readyz >/dev/null 2>&1 || die "the local cluster is not up: run 'make k8s-up' first"
# Images rebuilt from the working tree (seconds when nothing changed) and loaded.
bash "$REPO/scripts/k8s/images.sh" all
exec $REPO/.venv/bin/python $REPO/scripts/k8s/e2e.py "$@"
