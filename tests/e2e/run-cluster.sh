#!/usr/bin/env bash
# End-to-end tests on the cluster KUBECONFIG points at (what `make e2e` runs where Docker is
# not available), e.g. our single-node Kubernetes 1.20 test cluster (its `cluster` script):
#
#   $K8S_CLUSTER up                           # prints export KUBECONFIG=...
#   $K8S_CLUSTER images .                     # builds docker/Dockerfile.* into the node
#   export KUBECONFIG=/var/lib/autophon-k8s/admin.kubeconfig
#   K8S_CLUSTER=<path of the cluster script> make e2e
#
# The images must already be in the cluster as autophon/<name>:<version> (IMAGE_PREFIX, TAG
# override). With K8S_CLUSTER=<path of the cluster script>, volumes left Released by an
# earlier run are made Available again first (that cluster's static hostPath volumes). The pytest
# session installs the chart from scratch in a fresh namespace, runs the tests, uninstalls and
# deletes the namespace, and prints the timings (also written to $AUTOPHON_E2E_REPORT, default
# e2e-report.json). Extra arguments go to pytest.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"
PYTHON="${PYTHON:-${repo_root}/.venv/bin/python}"
K8S_CLUSTER="${K8S_CLUSTER:-}"

if [[ -z "${KUBECONFIG:-}" && ! -f "${HOME}/.kube/config" ]]; then
  echo "run-cluster.sh: no cluster: set KUBECONFIG (e.g. the test cluster's 'up' command prints it)" >&2
  exit 2
fi
if [[ ! -x "${PYTHON}" ]]; then
  make install
fi
if [[ -n "${K8S_CLUSTER}" && -f "${K8S_CLUSTER}" && "$(id -u)" == 0 ]]; then
  bash "${K8S_CLUSTER}" volumes || true
fi

export AUTOPHON_E2E=1
export AUTOPHON_E2E_IMAGE_PREFIX="${IMAGE_PREFIX:-autophon/}"
if [[ -n "${TAG:-}" ]]; then export AUTOPHON_E2E_TAG="${TAG}"; fi
export AUTOPHON_E2E_REPORT="${AUTOPHON_E2E_REPORT:-${repo_root}/e2e-report.json}"
"${PYTHON}" -m pytest -m e2e tests/e2e -v -p no:cacheprovider "$@"
