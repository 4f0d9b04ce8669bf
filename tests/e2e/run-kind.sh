#!/usr/bin/env bash
# End-to-end tests on a throwaway kind cluster (what `make e2e` runs):
#   1. create the kind cluster (or reuse one that already exists, e.g. from helm/kind-action),
#   2. build the images with docker/build.sh and `kind load` them (and the PostgreSQL image),
#   3. run `pytest -m e2e tests/e2e`: its session fixture installs the chart with the bundled
#      PostgreSQL (charts/autophon/ci/bundled-db-values.yaml + the test images) through the Helm
#      SDK (helm-python-sdk, no helm binary), runs the tests, then uninstalls,
#   4. delete the cluster if this script created it (trap, also on failure or Ctrl-C).
#
# Needs docker, kind and kubectl. Environment:
#   KIND_CLUSTER   cluster name (default autophon-e2e)
#   IMAGE_PREFIX   image prefix (default autophon-e2e/); TAG image tag (default e2e-<git sha>)
#   KEEP_CLUSTER   1 keeps a cluster this script created (and the release: AUTOPHON_E2E_KEEP=1)
#   SKIP_BUILD     1 uses images already built with the same IMAGE_PREFIX and TAG
#   PYTHON         the interpreter with the test dependencies (default .venv/bin/python)
# Extra arguments are passed to pytest, e.g. tests/e2e/run-kind.sh -k metrics
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"

KIND_CLUSTER="${KIND_CLUSTER:-autophon-e2e}"
IMAGE_PREFIX="${IMAGE_PREFIX:-autophon-e2e/}"
TAG="${TAG:-e2e-$(git rev-parse --short HEAD 2>/dev/null || date +%s)}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PYTHON="${PYTHON:-${repo_root}/.venv/bin/python}"
IMAGES="upload controller aligner"

for tool in docker kind kubectl; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "run-kind.sh: ${tool} is required" >&2
    exit 2
  fi
done
if [[ ! -x "${PYTHON}" ]]; then
  make install
fi
# The bundled PostgreSQL's image (from the chart's values), preloaded so kind need not pull it.
PG_IMAGE="$("${PYTHON}" -c 'import yaml
image = yaml.safe_load(open("charts/autophon/values.yaml"))["database"]["postgresql"]["image"]
print(image["repository"] + ":" + image["tag"])')"

created=0
kubeconfig="$(mktemp)"
cleanup() {
  status=$?
  if [[ "${created}" == 1 && "${KEEP_CLUSTER}" != 1 ]]; then
    echo "==> deleting kind cluster ${KIND_CLUSTER}"
    kind delete cluster --name "${KIND_CLUSTER}" || true
  fi
  rm -f "${kubeconfig}"
  exit "${status}"
}
trap cleanup EXIT INT TERM

if kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER}"; then
  echo "==> reusing kind cluster ${KIND_CLUSTER}"
else
  echo "==> creating kind cluster ${KIND_CLUSTER}"
  created=1
  kind create cluster --name "${KIND_CLUSTER}" --wait 180s
fi
# A kubeconfig of our own: the tests never touch the user's current context.
kind export kubeconfig --name "${KIND_CLUSTER}" --kubeconfig "${kubeconfig}"
export KUBECONFIG="${kubeconfig}"
kubectl cluster-info

if [[ "${SKIP_BUILD}" != 1 ]]; then
  IMAGE_PREFIX="${IMAGE_PREFIX}" TAG="${TAG}" IMAGES="${IMAGES}" docker/build.sh
fi
for name in ${IMAGES}; do
  kind load docker-image --name "${KIND_CLUSTER}" "${IMAGE_PREFIX}${name}:${TAG}"
done
if docker pull --quiet "${PG_IMAGE}"; then
  kind load docker-image --name "${KIND_CLUSTER}" "${PG_IMAGE}"
fi

export AUTOPHON_E2E=1
export AUTOPHON_E2E_IMAGE_PREFIX="${IMAGE_PREFIX}"
export AUTOPHON_E2E_TAG="${TAG}"
"${PYTHON}" -m pytest -m e2e tests/e2e -v -p no:cacheprovider "$@"
