#!/usr/bin/env bash
# Installs every system dependency of dominosearch on Debian 12. Idempotent and
# non-interactive: packages already present are left alone, and apt is only
# asked when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libgloo-dev                  # tensors, autograd, nn, c10d (Gloo)
  libgoogle-glog-dev                        # LibTorch's log, quieted while our errors say it
  libopenblas0-pthread                      # fast BLAS behind LibTorch (~30x reference BLAS)
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev libspdlog-dev zlib1g-dev
  libopencv-imgcodecs-dev libopencv-imgproc-dev  # JPEG/PNG decoding and resizing (ImageFolder)
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist                     # the embedded default dataset
  clang                                     # libFuzzer harnesses (scripts/fuzz.sh)
  python3-torch python3-torchvision         # tests only: PyTorch reads our exports, torchvision parity (/usr/bin/python3)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
