#!/usr/bin/env bash
# Creates (once) a virtualenv with the pinned MLServer the conformance tests run against,
# and prints the path of its `mlserver` binary on stdout (everything else goes to stderr).
#
#   HARNESS_MLSERVER_VENV  where the venv lives (default: $HOME/.cache/seldon-harness/mlserver-1.7.1)
#   PYTHON                 interpreter used to create it (default: python3; MLServer 1.7.1 needs 3.9-3.12)
#
# Idempotent: a venv whose pins already match is reused without touching the network.
set -euo pipefail

MLSERVER_VERSION=1.7.1
# MLServer's worker pool crashes with uvloop >= 0.22; the tests also run with parallel_workers=0.
PINS=("mlserver==${MLSERVER_VERSION}" "uvloop==0.21.0" "numpy>=1.24,<3")

venv="${HARNESS_MLSERVER_VENV:-${HOME}/.cache/seldon-harness/mlserver-${MLSERVER_VERSION}}"
python="${PYTHON:-python3}"
stamp="${venv}/.harness-pins"
want="$(printf '%s\n' "${PINS[@]}")"

if [[ -x "${venv}/bin/mlserver" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "${venv}/bin/mlserver"
  exit 0
fi

command -v "${python}" >/dev/null || { echo "mlserver-venv: ${python} not found; set PYTHON to a Python 3.9-3.12 interpreter" >&2; exit 1; }
echo "mlserver-venv: creating ${venv} (mlserver ${MLSERVER_VERSION})" >&2
mkdir -p "$(dirname "${venv}")"
"${python}" -m venv "${venv}" >&2
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
"${venv}/bin/mlserver" --help >/dev/null
printf '%s\n' "${PINS[@]}" >"${stamp}"
echo "${venv}/bin/mlserver"
