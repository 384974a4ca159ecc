#!/usr/bin/env bash
# Creates (once) a virtualenv with the pinned S3 server the storage-path tests run against
# (moto's server, see ci/s3-server.py), and prints the path of its `python` on stdout
# (everything else goes to stderr).
#
#   HARNESS_STORAGE_VENV  where the venv lives (default: $HOME/.cache/seldon-harness/storage-moto-5.2.5)
#   PYTHON                interpreter used to create it (default: python3; moto 5.2 needs 3.9+)
#
# Idempotent: a venv whose pins already match is reused without touching the network.
set -euo pipefail

MOTO_VERSION=5.2.5
# moto pins nothing tightly; these are the versions the tests were recorded with.
PINS=("moto[server]==${MOTO_VERSION}" "boto3==1.44.8" "botocore==1.44.8" "Flask==3.1.3" "Werkzeug==3.1.9")

venv="${HARNESS_STORAGE_VENV:-${HOME}/.cache/seldon-harness/storage-moto-${MOTO_VERSION}}"
python="${PYTHON:-python3}"
stamp="${venv}/.harness-pins"
want="$(printf '%s\n' "${PINS[@]}")"

if [[ -x "${venv}/bin/python" && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
  echo "${venv}/bin/python"
  exit 0
fi

command -v "${python}" >/dev/null || { echo "storage-venv: ${python} not found; set PYTHON to a Python 3.9+ interpreter" >&2; exit 1; }
echo "storage-venv: creating ${venv} (moto ${MOTO_VERSION})" >&2
mkdir -p "$(dirname "${venv}")"
"${python}" -m venv "${venv}" >&2
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
"${venv}/bin/python" -c 'import moto.server, moto.s3, moto.iam' >&2
printf '%s\n' "${PINS[@]}" >"${stamp}"
echo "${venv}/bin/python"
