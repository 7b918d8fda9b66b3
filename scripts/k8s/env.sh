#!/usr/bin/env bash
# Print the environment for the local control plane:  eval "$(scripts/k8s/env.sh)"
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
printf 'export KUBECONFIG=%q\n' "$K8S_RUN/kubeconfig"
printf 'export PATH=%q:"$PATH"\n' "$BIN"
