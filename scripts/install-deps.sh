#!/usr/bin/env bash
# Installs every system dependency of dominosearch on Debian 12. Idempotent and
# non-interactive: packages already present are left alone, and apt is only
# asked when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libgloo-dev                  # tensors, autograd, nn, c10d (Gloo)
  libgoogle-glog-dev                        # LibTorch's log, quieted while our errors say it
  libopenblas0-openmp                       # fast BLAS behind LibTorch (~30x reference BLAS), on LibTorch's OpenMP threads
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev libspdlog-dev zlib1g-dev
  libopencv-imgcodecs-dev libopencv-imgproc-dev  # JPEG/PNG decoding and resizing (ImageFolder)
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist                     # the embedded default dataset
  clang                                     # libFuzzer harnesses (scripts/fuzz.sh)
  python3-torch python3-torchvision         # tests only: PyTorch reads our exports, torchvision parity (/usr/bin/python3)
)

# OpenBLAS built on pthreads, where installed (our scripts installed it before 2026-12-03),
# outranks the OpenMP build as the system's libblas.so.3; its threads then spin on the cores
# LibTorch's work on (docs/benchmarks.md, "The BLAS behind LibTorch"). Point BLAS and LAPACK
# at the OpenMP build instead, once it is installed.
use_openmp_openblas() {
  local arch lib
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
  for lib in libblas.so.3 liblapack.so.3; do
    local openmp="/usr/lib/$arch/openblas-openmp/$lib" name="$lib-$arch"
    [ -e "$openmp" ] || continue
    update-alternatives --query "$name" 2>/dev/null | grep -q "^Value: .*openblas-pthread" || continue
    if [ "$SUDO" = "none" ]; then  # domino then cuts that build's pool to one thread itself
      echo "install-deps: $lib is the pthreads build of OpenBLAS; as root: update-alternatives --set $name $openmp" >&2
      continue
    fi
    echo "install-deps: $lib -> the OpenMP build of OpenBLAS (was the pthreads build)"
    $SUDO update-alternatives --set "$name" "$openmp"
  done
}

SUDO=""  # "none": neither root nor sudo, which only installing needs
if [ "$(id -u)" -ne 0 ]; then
  SUDO="none"
  command -v sudo >/dev/null && SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  use_openmp_openblas
  exit 0
fi

[ "$SUDO" = "none" ] && { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
use_openmp_openblas
