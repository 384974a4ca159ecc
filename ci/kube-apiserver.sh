#!/usr/bin/env bash
# A real Kubernetes control plane on loopback (etcd + kube-apiserver + kube-controller-manager),
# for differential tests against the embedded platform (issue 13).
#
#   ci/kube-apiserver.sh build        build once from Debian's kubernetes source package (~8 min on
#                                     2 cores), cache the binaries, print the bin dir on stdout
#   ci/kube-apiserver.sh start DIR    start the three processes with state, certs and logs in DIR,
#                                     wait until ready, print `KUBECONFIG=DIR/kubeconfig` on stdout
#   ci/kube-apiserver.sh stop DIR     stop what `start DIR` started and remove DIR
#
# Env:
#   HARNESS_CACHE               cache root (default: $HOME/.cache/seldon-harness); binaries go to
#                               $HARNESS_CACHE/kube-1.20.2/ with a .source-version stamp (the
#                               Debian source revision, Go and etcd versions); a cached build is
#                               used as is, without asking apt: delete the directory to rebuild
#   HARNESS_KUBE_START_TIMEOUT  seconds `start` waits for readiness (default 90)
#   HARNESS_DEBIAN_MIRROR       archive URI for the bookworm deb-src entry, when it cannot be read
#                               from the machine's own apt sources
#
# `start` writes into DIR:
#   kubeconfig        admin (user `harness-admin`, group system:masters), token auth, CA pinned
#   kubeconfig-user   non-admin (user `harness-user`, group `harness:users`, no RBAC grants)
#   env               KUBE_APISERVER_URL, ETCD_URL, tokens (for curl)
#   *.log, *.pid, pki/, etcd/
# Only 127.0.0.1 is listened on; 10.96.0.0/12 is configured as the service range, never contacted.
# Everything goes to stderr except the one result line on stdout.
set -euo pipefail

KUBE_VERSION=1.20.2
# Debian's last source package that still builds the server components (bookworm); trixie's
# builds only kubectl.
SRC_SUITE=bookworm
SRC_PACKAGE=kubernetes
GO_PACKAGES=(golang-1.19-go golang-1.20-go golang-1.21-go golang-1.22-go golang-go)

cache_root="${HARNESS_CACHE:-${HOME}/.cache/seldon-harness}"
bin_dir="${cache_root}/kube-${KUBE_VERSION}"
stamp="${bin_dir}/.source-version"
start_timeout="${HARNESS_KUBE_START_TIMEOUT:-90}"

log() { echo "kube-apiserver.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}
apt_install() {
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends --no-upgrade "$@" >&2 ||
    die "apt-get install $* failed"
}

built() {
  [[ -f "${stamp}" && -x "${bin_dir}/kube-apiserver" && -x "${bin_dir}/kube-controller-manager" && -x "${bin_dir}/etcd" ]]
}

# Prints "URI KEYRING" of the machine's apt entry for the $SRC_SUITE main archive.
archive_uri() {
  if [[ -n "${HARNESS_DEBIAN_MIRROR:-}" ]]; then
    echo "${HARNESS_DEBIAN_MIRROR} /usr/share/keyrings/debian-archive-keyring.gpg"
    return
  fi
  local f found=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "${f}" ]] || continue
    found="$(awk -v suite="${SRC_SUITE}" '
      function flush() { if (deb && hit && uri != "") { print uri, (key == "" ? "/usr/share/keyrings/debian-archive-keyring.gpg" : key); done = 1; exit } }
      /^[[:space:]]*$/ { flush(); deb = 0; hit = 0; uri = ""; key = ""; next }
      /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      /^URIs:/ { uri = $2 }
      /^Signed-By:/ { key = $2 }
      END { if (!done) flush() }' "${f}")"
    [[ -n "${found}" ]] && break
  done
  if [[ -z "${found}" ]]; then
    found="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v suite="${SRC_SUITE}" '$1 == "deb" { u = ""; for (i = 2; i <= NF; i++) { if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue } if (u == "") { u = $i; continue } if ($i == suite) { print u, "/usr/share/keyrings/debian-archive-keyring.gpg"; exit } break } }')"
  fi
  [[ -n "${found}" ]] || return 1
  echo "${found}"
}

ensure_deb_src() {
  if apt-cache showsrc "${SRC_PACKAGE}" 2>/dev/null | grep -q "^Version: .*really${KUBE_VERSION}"; then
    return
  fi
  local entry uri key
  entry="$(archive_uri)" || die "no apt entry for ${SRC_SUITE} found to derive a deb-src entry from; set HARNESS_DEBIAN_MIRROR"
  read -r uri key <<<"${entry}"
  log "adding a deb-src entry for ${SRC_SUITE} main"
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "${uri}" "${SRC_SUITE}" "${key}" |
    as_root tee /etc/apt/sources.list.d/harness-"${SRC_SUITE}"-src.sources >/dev/null
  as_root apt-get update >&2 || die "apt-get update failed"
  apt-cache showsrc "${SRC_PACKAGE}" 2>/dev/null | grep -q "^Version: .*really${KUBE_VERSION}" ||
    die "apt has no ${SRC_PACKAGE} source with ${KUBE_VERSION} (apt-cache showsrc ${SRC_PACKAGE})"
}

# The oldest installable Go among GO_PACKAGES; prints its bin dir.
ensure_go() {
  local p cand
  for p in "${GO_PACKAGES[@]}"; do
    cand="$(apt-cache policy "${p}" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    if [[ -n "${cand}" && "${cand}" != "(none)" ]]; then
      apt_install "${p}"
      if [[ "${p}" == golang-go ]]; then
        echo /usr/lib/go/bin
      else
        local ver="${p#golang-}"
        echo "/usr/lib/go-${ver%-go}/bin"
      fi
      return
    fi
  done
  die "none of ${GO_PACKAGES[*]} is installable"
}

cmd_build() {
  if built; then
    log "cached: ${bin_dir} ($(head -n1 "${stamp}"))"
    echo "${bin_dir}"
    return
  fi
  local t0=${SECONDS}
  command -v apt-get >/dev/null || die "building needs a Debian machine (apt-get)"
  [[ "$(id -u)" == 0 ]] || command -v sudo >/dev/null || die "building installs packages: run as root or with sudo"
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ]]; then
    as_root apt-get update >&2 || die "apt-get update failed"
  fi
  ensure_deb_src
  apt_install etcd-server golang-github-modern-go-reflect2-dev dpkg-dev make rsync openssl curl
  local gobin
  gobin="$(ensure_go)"
  [[ -x "${gobin}/go" ]] || die "go not found in ${gobin}"
  log "building kube-apiserver and kube-controller-manager ${KUBE_VERSION} with $("${gobin}/go" version)"

  mkdir -p "${cache_root}"
  local work
  work="$(mktemp -d "${cache_root}/kube-build.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '${work}'" EXIT
  (
    cd "${work}"
    apt-get source --download-only "${SRC_PACKAGE}" >&2 2>&1 || exit 1
    dpkg-source -x ./*.dsc src >&2 # applies Debian's patches
  ) || die "fetching the ${SRC_PACKAGE} source package failed"
  local src_version
  src_version="$(sed -n 's/^Version: //p' "${work}"/*.dsc | head -n1)"

  # reflect2 v1.0.1 (vendored) breaks on Go >= 1.18 (map iteration through unsafe runtime
  # symbols); Debian ships v1.0.2, which is API-compatible.
  local r2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [[ -f "${r2}/go_above_118.go" ]] || die "${r2} is not reflect2 >= 1.0.2"
  rm -rf "${work}/src/vendor/github.com/modern-go/reflect2"
  cp -rL "${r2}" "${work}/src/vendor/github.com/modern-go/reflect2"
  rm -f "${work}/src/vendor/github.com/modern-go/reflect2/go.mod"

  # The tarball is a `git archive` of the v1.20.2 tag; pin the version stamp explicitly.
  cat >"${work}/version.env" <<EOF
KUBE_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_VERSION='v${KUBE_VERSION}'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
EOF
  # The upstream Makefile builds in GOPATH mode (hack/lib/init.sh sets GO111MODULE=off) under
  # _output/local/go, runs the code generators (generated_files) first, and sets the version
  # ldflags for both k8s.io/component-base/version and k8s.io/client-go/pkg/version.
  (
    cd "${work}/src"
    export PATH="${gobin}:${PATH}" GO111MODULE=off CGO_ENABLED=0 GOCACHE="${work}/gocache" GOPATH="${work}/gopath"
    SOURCE_DATE_EPOCH="$(date +%s)"
    export KUBE_GIT_VERSION_FILE="${work}/version.env" SOURCE_DATE_EPOCH
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" GOFLAGS="-tags=providerless" >&2
  ) || die "make failed (see the output above)"

  local out="${work}/src/_output/bin" staged="${bin_dir}.new"
  rm -rf "${staged}"
  mkdir -p "${staged}"
  cp "${out}/kube-apiserver" "${out}/kube-controller-manager" "$(command -v etcd || echo /usr/bin/etcd)" "${staged}/"
  local v
  v="$("${staged}/kube-apiserver" --version 2>&1)"
  [[ "${v}" == "Kubernetes v${KUBE_VERSION}" ]] || die "built kube-apiserver reports '${v}', expected 'Kubernetes v${KUBE_VERSION}'"
  {
    echo "${SRC_PACKAGE} ${src_version}"
    "${gobin}/go" version
    "${staged}/etcd" --version | head -n1
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - t0)) s"
  } >"${staged}/.source-version"
  rm -rf "${bin_dir}"
  mv "${staged}" "${bin_dir}"
  log "built in $((SECONDS - t0)) s: ${bin_dir}"
  echo "${bin_dir}"
}

# A free TCP port on 127.0.0.1 below the ephemeral range (best effort; used immediately).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null && ! grep -qs ":${p}\$" "${dir}/.ports"; then
      echo "${p}" >>"${dir}/.ports"
      echo "${p}"
      return
    fi
  done
  die "no free port found on 127.0.0.1"
}

dump_logs() {
  local f
  for f in "${dir}"/*.log; do
    [[ -f "${f}" ]] || continue
    echo "----- tail -n 40 ${f} -----" >&2
    tail -n 40 "${f}" >&2
  done
}

fail_start() {
  log "error: $*"
  dump_logs
  log "stopping what was started in ${dir}"
  stop_processes
  exit 1
}

alive() { [[ -f "${dir}/$1.pid" ]] && kill -0 "$(cat "${dir}/$1.pid")" 2>/dev/null; }

# wait_for NAME CHECK-COMMAND...: polls until CHECK succeeds, the process NAME dies, or the deadline.
wait_for() {
  local what="$1" proc="$2"
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    alive "${proc}" || fail_start "${proc} exited while waiting for ${what}"
    ((SECONDS < deadline)) || fail_start "timed out after ${start_timeout} s waiting for ${what}"
    sleep 0.5
  done
}

write_kubeconfig() { # file user token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: harness-real
  cluster:
    server: ${api_url}
    certificate-authority-data: $(base64 -w0 "${dir}/pki/ca.crt")
users:
- name: $2
  user:
    token: $3
contexts:
- name: harness-real
  context:
    cluster: harness-real
    user: $2
    namespace: default
current-context: harness-real
EOF
  chmod 600 "$1"
}

cmd_start() {
  [[ -n "${dir:-}" ]] || die "usage: $0 start DIR"
  command -v openssl >/dev/null || die "openssl is needed"
  command -v curl >/dev/null || die "curl is needed"
  built || cmd_build >/dev/null
  mkdir -p "${dir}"
  dir="$(cd "${dir}" && pwd)"
  local p
  for p in etcd kube-apiserver kube-controller-manager; do
    alive "${p}" && die "${p} from an earlier start is still running in ${dir}; run: $0 stop ${dir}"
  done
  touch "${dir}/.harness-kube" # marks DIR as ours for `stop`
  : >"${dir}/.ports"
  deadline=$((SECONDS + start_timeout))

  # PKI: a CA, an apiserver serving cert signed by it, and the service-account signing key pair.
  local pki="${dir}/pki"
  mkdir -p "${pki}"
  (
    cd "${pki}"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=harness-real-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 30 -extfile apiserver.ext
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >"${dir}/pki.log" 2>&1 || fail_start "generating certificates failed"

  local admin_token user_token kcm_token
  admin_token="$(openssl rand -hex 16)"
  user_token="$(openssl rand -hex 16)"
  kcm_token="$(openssl rand -hex 16)"
  cat >"${dir}/tokens.csv" <<EOF
${admin_token},harness-admin,harness-admin,"system:masters"
${user_token},harness-user,harness-user,"harness:users"
${kcm_token},system:kube-controller-manager,system:kube-controller-manager
EOF
  chmod 600 "${dir}/tokens.csv"

  local etcd_port peer_port api_port
  etcd_port="$(free_port)"
  peer_port="$(free_port)"
  api_port="$(free_port)"
  local etcd_url="http://127.0.0.1:${etcd_port}"
  api_url="https://127.0.0.1:${api_port}"

  log "starting etcd on ${etcd_url}"
  "${bin_dir}/etcd" --name harness --data-dir "${dir}/etcd" \
    --listen-client-urls "${etcd_url}" --advertise-client-urls "${etcd_url}" \
    --listen-peer-urls "http://127.0.0.1:${peer_port}" --initial-advertise-peer-urls "http://127.0.0.1:${peer_port}" \
    --initial-cluster "harness=http://127.0.0.1:${peer_port}" --initial-cluster-state new \
    --unsafe-no-fsync >"${dir}/etcd.log" 2>&1 </dev/null &
  echo $! >"${dir}/etcd.pid"
  wait_for "etcd /health" etcd curl -fsS --max-time 2 "${etcd_url}/health"

  log "starting kube-apiserver on ${api_url}"
  "${bin_dir}/kube-apiserver" \
    --etcd-servers="${etcd_url}" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="${api_port}" --insecure-port=0 \
    --cert-dir="${pki}" --tls-cert-file="${pki}/apiserver.crt" --tls-private-key-file="${pki}/apiserver.key" \
    --client-ca-file="${pki}/ca.crt" \
    --token-auth-file="${dir}/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-key-file="${pki}/sa.pub" --service-account-signing-key-file="${pki}/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/12 \
    --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota,Priority \
    --allow-privileged=true --profiling=false --v=1 \
    >"${dir}/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"${dir}/kube-apiserver.pid"
  wait_for "kube-apiserver /readyz" kube-apiserver \
    curl -fsS --max-time 2 --cacert "${pki}/ca.crt" -H "Authorization: Bearer ${admin_token}" "${api_url}/readyz"

  write_kubeconfig "${dir}/kubeconfig" harness-admin "${admin_token}"
  write_kubeconfig "${dir}/kubeconfig-user" harness-user "${user_token}"
  write_kubeconfig "${dir}/kcm.kubeconfig" system:kube-controller-manager "${kcm_token}"
  cat >"${dir}/env" <<EOF
KUBE_APISERVER_URL=${api_url}
ETCD_URL=${etcd_url}
KUBE_ADMIN_TOKEN=${admin_token}
KUBE_USER_TOKEN=${user_token}
KUBE_CA_FILE=${pki}/ca.crt
EOF
  chmod 600 "${dir}/env"

  log "starting kube-controller-manager"
  "${bin_dir}/kube-controller-manager" \
    --kubeconfig="${dir}/kcm.kubeconfig" \
    --controllers='*' --use-service-account-credentials=true --leader-elect=false \
    --service-account-private-key-file="${pki}/sa.key" --root-ca-file="${pki}/ca.crt" \
    --cluster-signing-cert-file="${pki}/ca.crt" --cluster-signing-key-file="${pki}/ca.key" \
    --port=0 --secure-port=0 --v=1 \
    >"${dir}/kube-controller-manager.log" 2>&1 </dev/null &
  echo $! >"${dir}/kube-controller-manager.pid"

  # Pods are admitted only once their namespace's ServiceAccount has a token secret (1.20).
  wait_for "ServiceAccount default/default with a token secret" kube-controller-manager \
    sa_has_token "${admin_token}" default
  log "ready in $((SECONDS - deadline + start_timeout)) s: ${api_url}"
  echo "KUBECONFIG=${dir}/kubeconfig"
}

sa_has_token() { # token namespace
  curl -fsS --max-time 2 --cacert "${dir}/pki/ca.crt" -H "Authorization: Bearer $1" \
    "${api_url}/api/v1/namespaces/$2/serviceaccounts/default" | grep -q '"secrets"'
}

stop_processes() {
  local p pid
  for p in kube-controller-manager kube-apiserver etcd; do
    [[ -f "${dir}/${p}.pid" ]] || continue
    pid="$(cat "${dir}/${p}.pid")"
    if kill -0 "${pid}" 2>/dev/null; then
      kill -TERM "${pid}" 2>/dev/null || true
      for _ in $(seq 1 100); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "${pid}" 2>/dev/null; then
        log "${p} (pid ${pid}) ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
      fi
    fi
    rm -f "${dir}/${p}.pid"
  done
}

cmd_stop() {
  [[ -n "${dir:-}" ]] || die "usage: $0 stop DIR"
  [[ -d "${dir}" ]] || {
    log "${dir} does not exist; nothing to stop"
    return
  }
  [[ -f "${dir}/.harness-kube" ]] || die "${dir} was not made by '$0 start'; not touching it"
  stop_processes
  rm -rf "${dir}"
  log "stopped; removed ${dir}"
}

case "${1:-}" in
  build) cmd_build ;;
  start)
    dir="${2:-}"
    cmd_start
    ;;
  stop)
    dir="${2:-}"
    cmd_stop
    ;;
  *)
    echo "usage: $0 build | start DIR | stop DIR" >&2
    exit 2
    ;;
esac
