#!/usr/bin/env bash
# Installs exactly what Tributary needs to build, test and benchmark on Debian 12.
# Idempotent: packages already installed are skipped, and apt is not touched when
# nothing is missing. Runs as root, or through sudo when available.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git ccache
  # runtime libraries (see README "Dependencies" for why each one)
  libuv1-dev liblmdb-dev libmbedtls-dev libpaho-mqttpp-dev libpaho-mqtt-dev
  libtomlplusplus-dev libxxhash-dev libzstd-dev libsystemd-dev libcli11-dev
  nlohmann-json3-dev librdkafka-dev libhttp-parser-dev
  # tests
  libcmocka-dev mosquitto mosquitto-clients python3 python3-paho-mqtt lmdb-utils
  # fuzzing and lint (clang's libFuzzer), cppcheck
  clang cppcheck clang-tidy
  # admin API tests: promtool checks the /metrics output
  prometheus curl
  # TLS tests generate their certificates at test time
  openssl
  # the Debian package (make deb) and its tests: shlibdeps, lintian, the unit
  # checked by systemd-analyze and run under systemd in a container
  dpkg-dev lintian systemd systemd-container shellcheck
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: not root and no password-less sudo. Run as root:" >&2
    echo "    apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
