#!/usr/bin/env bash
# Installs what deathwatch needs to build and test, from Debian 12's packages. Idempotent:
# nothing is downloaded when everything is already there. Run as root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libspdlog-dev libcli11-dev doctest-dev nlohmann-json3-dev libsystemd-dev
  clang llvm clang-14 libclang-rt-14-dev valgrind libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev
  libbz2-dev liblzma-dev
  python3 default-jdk-headless jq perl procps util-linux libcap2-bin scdoc lintian
  debootstrap systemd-container
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}); run this script as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all build and test dependencies present"
