#!/usr/bin/env bash
# Creates (once) a virtualenv with kubesealpy, an independent Python implementation of kubeseal's
# format (it seals and unseals; on `cryptography`), for the compatibility tests in
# harness/tests/sealed_compat.rs, and prints the path of its `python` on stdout.
#
#   HARNESS_KUBESEALPY_VENV  where the venv lives (default: $HOME/.cache/seldon-harness/kubesealpy-1.0.1)
#   PYTHON                   interpreter used to create it (default: python3; kubesealpy needs >= 3.9)
#
# Idempotent: a venv whose pins already match is reused without touching the network.
set -euo pipefail

KUBESEALPY_VERSION=1.0.1
PINS=("kubesealpy==${KUBESEALPY_VERSION}" "cryptography>=41,<47")

venv="${HARNESS_KUBESEALPY_VENV:-${HOME}/.cache/seldon-harness/kubesealpy-${KUBESEALPY_VERSION}}"
python="${PYTHON:-python3}"
stamp="${venv}/.harness-pins"
want="$(printf '%s\n' "${PINS[@]}")"

if [[ -x "${venv}/bin/python" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "${venv}/bin/python"
  exit 0
fi

command -v "${python}" >/dev/null || { echo "kubesealpy-venv: ${python} not found; set PYTHON" >&2; exit 1; }
echo "kubesealpy-venv: creating ${venv} (kubesealpy ${KUBESEALPY_VERSION})" >&2
mkdir -p "$(dirname "${venv}")"
"${python}" -m venv "${venv}" >&2
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
"${venv}/bin/python" -c 'import kubesealpy, cryptography' >&2
printf '%s\n' "${PINS[@]}" >"${stamp}"
echo "${venv}/bin/python"
