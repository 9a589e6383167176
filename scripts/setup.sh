#!/usr/bin/env bash
# Set up a fresh machine (Debian 12, Node 20, root) for galley: system packages for the lab
# (etcd, sshd, Alertmanager), pnpm 12.4.2, the workspace's node modules, and a build. Safe to re-run.
# `--bench`: also the peer tools `pnpm bench remote` compares with (cumin, pdsh; Debian packages;
# clush comes with clustershell anyway). The tests do not need them, so CI does not install them.
set -euo pipefail
bench=0
[ "${1:-}" = --bench ] && bench=1
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v etcdctl >/dev/null || missing+=(etcd-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v unshare >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || missing+=(iproute2)
command -v pkill >/dev/null || missing+=(procps)
# Alertmanager: the lab's real monitoring (silences, alerts); policy-rc.d below keeps its service from starting on :9093
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
# ClusterShell: the oracle of the NodeSet differential test (python3 ClusterShell.NodeSet, nodeset)
command -v nodeset >/dev/null || missing+=(clustershell)
# Chromium (headless): renders the run report in its e2e test
command -v chromium >/dev/null || missing+=(chromium)
if [ "$bench" = 1 ]; then
  command -v cumin >/dev/null || missing+=(cumin)
  command -v pdsh >/dev/null || missing+=(pdsh)
fi
if [ ${#missing[@]} -gt 0 ]; then
  # Never let the packages start system services (a system sshd on :22, etcd on :2379, Alertmanager on :9093).
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p /run/sshd

PNPM_VERSION=12.4.2
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm i -g --no-audit --no-fund "pnpm@$PNPM_VERSION" >/dev/null 2>&1
fi
export npm_config_nodedir=/usr   # node-gyp builds ssh2's native crypto without downloading headers
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | grep -vE '^\.\.\./|Progress' | tail -3
pnpm run build >/dev/null
echo "setup: ok"
