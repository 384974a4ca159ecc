#!/usr/bin/env bash
# Installs the pinned kind, kubectl and helm (ci/tool-versions.env) into a directory, verifying each
# download's sha256 first. Fails closed: no verified checksum for this platform, or a mismatch, means
# nothing is installed.
#
# Usage: ci/install-tools.sh [DEST_DIR]        (default: $HOME/.local/bin)
# Env:   TOOLS_MIRROR=<url or file:// dir>     fetch files by name from a mirror instead of upstream
#        TOOLS_PLATFORM=<os-arch>              override platform detection (tests)
# In GitHub Actions DEST_DIR is appended to $GITHUB_PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tool-versions.env
source "${here}/tool-versions.env"

dest="${1:-${HOME}/.local/bin}"

detect_platform() {
  local os arch
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  arch="$(uname -m)"
  case "${arch}" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
  esac
  echo "${os}-${arch}"
}
platform="${TOOLS_PLATFORM:-$(detect_platform)}"
key="$(echo "${platform}" | tr '[:lower:]-' '[:upper:]_')"

checksum_for() { # tool name (KIND/KUBECTL/HELM) -> checksum or failure
  local var="${1}_SHA256_${key}"
  local sum="${!var:-}"
  if [[ ! "${sum}" =~ ^[0-9a-f]{64}$ ]]; then
    echo "install-tools: no verified sha256 for ${1,,} on ${platform} (${var} is not set in ci/tool-versions.env)." >&2
    echo "install-tools: refusing to install an unverified binary. Install ${1,,} yourself (see docs/targets.md) or add the checksum from the project's release page." >&2
    exit 2
  fi
  echo "${sum}"
}

# Resolve every checksum before downloading anything.
kind_sum="$(checksum_for KIND)"
kubectl_sum="$(checksum_for KUBECTL)"
helm_sum="$(checksum_for HELM)"
os="${platform%-*}"
arch="${platform#*-}"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

fetch() { # url file-name expected-sha256
  local url="$1" name="$2" sum="$3"
  if [[ -n "${TOOLS_MIRROR:-}" ]]; then
    url="${TOOLS_MIRROR%/}/${name}"
  fi
  echo "install-tools: downloading ${url}" >&2
  curl --fail --silent --show-error --location --retry 3 --output "${work}/${name}" "${url}"
  if ! echo "${sum}  ${work}/${name}" | sha256sum --check --status; then
    echo "install-tools: checksum mismatch for ${name}: expected ${sum}, got $(sha256sum "${work}/${name}" | cut -d' ' -f1)." >&2
    echo "install-tools: not installing it. If the version was bumped, update ci/tool-versions.env from the release's checksum file." >&2
    exit 3
  fi
}

fetch "https://github.com/kubernetes-sigs/kind/releases/download/${KIND_VERSION}/kind-${os}-${arch}" \
  "kind-${os}-${arch}" "${kind_sum}"
fetch "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/${os}/${arch}/kubectl" "kubectl" "${kubectl_sum}"
fetch "https://get.helm.sh/helm-${HELM_VERSION}-${os}-${arch}.tar.gz" \
  "helm-${HELM_VERSION}-${os}-${arch}.tar.gz" "${helm_sum}"

mkdir -p "${dest}"
install -m 0755 "${work}/kind-${os}-${arch}" "${dest}/kind"
install -m 0755 "${work}/kubectl" "${dest}/kubectl"
tar -xzf "${work}/helm-${HELM_VERSION}-${os}-${arch}.tar.gz" -C "${work}" "${os}-${arch}/helm"
install -m 0755 "${work}/${os}-${arch}/helm" "${dest}/helm"

if [[ -n "${GITHUB_PATH:-}" ]]; then
  echo "${dest}" >>"${GITHUB_PATH}"
fi
"${dest}/kind" version
"${dest}/kubectl" version --client
"${dest}/helm" version --short
