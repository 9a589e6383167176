#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: set up, bring the lab up (a real local fleet:
# etcd, sshd hosts, PyBal simulators), then a real rolling restart of the eqiad jobrunner cluster
# with live progress. Re-running reuses a running lab. Stop it with: bin/galley-lab down
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH=$PWD/bin:$PATH
if ! galley-lab status --dir .lab >/dev/null 2>&1; then galley-lab up --dir .lab; fi
echo
echo "== before: sre.lb.status cluster=jobrunner dc=eqiad"
cookbook -c .lab/cookbook.config.yaml sre.lb.status cluster=jobrunner dc=eqiad
echo
echo "== cookbook sre.lb.rolling-restart cluster=jobrunner dc=eqiad batch=1,2 reason=\"galley demo\""
cookbook -c .lab/cookbook.config.yaml sre.lb.rolling-restart cluster=jobrunner dc=eqiad batch=1,2 reason="galley demo" "$@"
