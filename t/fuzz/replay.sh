#!/bin/bash
# t/fuzz/replay.sh: build the fuzz harnesses and run each once over its
# seed corpus (t/fuzz/corpus/NAME/) and its regression inputs
# (t/fuzz/regress/NAME/), without fuzzing: every input a fuzzer once
# crashed on stays fixed. Needs clang (quickstart installs it); 77 = skip.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1 || { echo "SKIP: no clang"; exit 77; }
fz=$top_srcdir/t/fuzz/fuzz.sh
bash "$fz" build || { echo "FAIL: building the harnesses"; exit 1; }
bash "$fz" replay
