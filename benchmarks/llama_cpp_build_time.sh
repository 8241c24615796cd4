#!/usr/bin/env bash
# Time llama-cpp-python's CPU build (as `make lab` compiles it) with and without its multimodal mtmd library.
# Usage: benchmarks/llama_cpp_build_time.sh SDIST PYTHON
#   SDIST   llama_cpp_python-<version>.tar.gz (pip download --no-deps --no-binary :all: llama-cpp-python==<version>)
#   PYTHON  an interpreter with scikit-build-core installed (the build runs without isolation, so that only the
#           compile is timed)
# Prints one line per build: its CMAKE_ARGS, wall-clock seconds, CPU seconds (user + sys) and the wheel's size.
set -euo pipefail
sdist="$(realpath "$1")" python="$2"
common="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF"
for extra in "" "-DLLAVA_BUILD=OFF"; do
    out="$(mktemp -d)"
    CMAKE_ARGS="${common} ${extra}" /usr/bin/time -f "%e %U %S" -o "${out}/time" \
        "${python}" -m pip wheel --quiet --no-deps --no-build-isolation --no-cache-dir -w "${out}" "${sdist}" \
        > "${out}/log" 2>&1 || { tail -20 "${out}/log" >&2; exit 1; }
    read -r wall user sys < "${out}/time"
    size="$(du -k "${out}"/*.whl | cut -f1)"
    echo "CMAKE_ARGS='${common} ${extra}': wall ${wall} s, CPU $(echo "${user} + ${sys}" | bc) s, wheel ${size} KiB"
    rm -rf "${out}"
done
