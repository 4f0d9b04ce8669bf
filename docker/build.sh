#!/usr/bin/env bash
# Build the AutoPhon images (what `make images` runs). From anywhere; the build context is the
# repository root, filtered by /.dockerignore.
#
#   IMAGE_PREFIX  prefix of every image name (default "autophon/"): ${IMAGE_PREFIX}upload:${TAG}
#   TAG           image tag (default: the version in pyproject.toml)
#   IMAGES        images to build (default "upload controller aligner"; also "aligner-mfa",
#                 "aligner-fave", the latter needs HTK, see docker/README.md)
#   BUILD_ARGS    extra `docker build` arguments, e.g.
#                 BUILD_ARGS="--build-arg HTK_SOURCE=docker/htk/HTK-3.4.1.tar.gz"
#   DOCKER        container CLI (default "docker")
#   PUSH          "1" to push each image after building it
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
default_tag="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${repo_root}/pyproject.toml" | head -n 1)"

IMAGE_PREFIX="${IMAGE_PREFIX:-autophon/}"
TAG="${TAG:-${default_tag}}"
IMAGES="${IMAGES:-upload controller aligner}"
DOCKER="${DOCKER:-docker}"
BUILD_ARGS="${BUILD_ARGS:-}"
PUSH="${PUSH:-0}"

if [[ -z "${TAG}" ]]; then
  echo "build.sh: no TAG given and no version found in pyproject.toml" >&2
  exit 2
fi

export DOCKER_BUILDKIT=1
for name in ${IMAGES}; do
  dockerfile="${repo_root}/docker/Dockerfile.${name}"
  if [[ ! -f "${dockerfile}" ]]; then
    echo "build.sh: unknown image '${name}' (no ${dockerfile})" >&2
    exit 2
  fi
  image="${IMAGE_PREFIX}${name}:${TAG}"
  echo "==> ${image}"
  # shellcheck disable=SC2086  # BUILD_ARGS is a list of words on purpose
  "${DOCKER}" build --file "${dockerfile}" --tag "${image}" ${BUILD_ARGS} "${repo_root}"
  if [[ "${PUSH}" == "1" ]]; then
    "${DOCKER}" push "${image}"
  fi
done
