#!/usr/bin/env bash
# fastnn: the whole GPU check in ONE device call -- build with CUDA, test, benchmark, report.
#
# How a session with a lent GPU uses it (device tool `run`, from this machine):
#
#     run(command: "COMMIT=<sha> bash bench/gpu_session.sh", timeout_s: 600)
#
#   with <sha> = $(git rev-parse --short=12 HEAD), plus "-dirty" when `git status --porcelain`
#   shows uncommitted changes (the device copy of the tree has no .git, so the commit must be
#   passed in). Nothing needs carrying: the tree is built from source there.
#   The script keeps itself under ~9 minutes (SESSION_BUDGET_S, default 540 s): every step runs
#   under `timeout`, capped by the time left, and the optional CPU test suite goes last.
#
# What comes back under $OUT (the tool returns at most 8 files, so exactly these):
#   SUMMARY.md      device, date, commit, package versions, each step's result and time,
#                   pass/fail/skip counts, fastnn.info(), tails of failed steps' logs
#   nvidia-smi.txt  nvidia-smi and a CSV query of the card (read-only; settings untouched)
#   build.log       pip install -v (CMake + nvcc) output
#   pytest-gpu.log  pytest tests -m gpu -v;  pytest-gpu.xml: its JUnit XML
#   gpu-bench.json  pytest-benchmark JSON of bench/test_bench_gpu_gemm.py and test_bench_gpu_ops.py
#   gpu-bench.md    python bench/report.py gpu-bench.json (the table to commit), followed by the
#                   MNIST training-epoch table on the GPU when the data came along (below)
#   logs.tar.gz     everything else: fastnn.info, CPU test log + XML, benchmark console log,
#                   report log, pip list
# The reply's output_tail ends with gpu-bench.md and SUMMARY.md.
#
# Afterwards, on this machine: copy the report into the repository as
#   bench/results/gpu-<YYYY-MM-DD>.md   (its header carries the device name, date and commit)
# e.g. cp <files_at>/gpu-bench.md bench/results/gpu-$(date +%F).md, and quote SUMMARY.md's
# test counts in the commit message.
#
# MNIST epochs on the GPU (issue 6's CNN target; bench/test_bench_train.py with BENCH_DEVICE=cuda)
# run when the four IDX files are in gpu-data/mnist (git-ignored; from this machine:
#   mkdir -p gpu-data/mnist && cp ../shared/data/mnist/*.gz gpu-data/mnist/
# and run(..., carry: ["gpu-data"])) or FASTNN_DATA points at them; TRAIN_REPS (default 3).
#
# Knobs (environment): COMMIT, PYTHON (default python3), CUDA_ARCH (default 90 = H100/H200),
#   MEMCHECK_TESTS (the test modules memcheck runs; default: element-wise, losses, optimizers),
#   GPU_BENCH_FILES (the benchmark modules; default: GEMM and ops),
#   GPU_BENCH_REPS (default 5), SESSION_BUDGET_S (default 540), SKIP_BUILD=1 (use an already
#   installed fastnn), SKIP_CPU_TESTS=1, BENCH_GPU_SYSTEMS / BENCH_GPU_TARGET_S (see the suite).
# Check it here without a GPU: bash -n bench/gpu_session.sh

set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO=$(pwd)
OUT=${OUT:-$REPO/gpu-session-out}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/fastnn-gpu-session.XXXXXX)
PY=${PYTHON:-python3}
CUDA_ARCH=${CUDA_ARCH:-90}
REPS=${GPU_BENCH_REPS:-5}
BUDGET=${SESSION_BUDGET_S:-540}
START=$(date +%s)
DATE_UTC=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1

if [ -z "${COMMIT:-}" ]; then
  COMMIT=$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || true)
  if [ -n "$COMMIT" ]; then
    git -C "$REPO" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT-dirty"
    COMMIT="$COMMIT (from git on the device)"
  else
    COMMIT="unknown (pass COMMIT=<sha>: the device tree has no .git)"
  fi
fi
export FASTNN_COMMIT=${COMMIT%% (*}   # recorded by the benchmark suite for report.py

elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(elapsed) )); }
log() { echo "[gpu_session +$(elapsed)s] $*"; }

# ---------------------------------------------------------------- step bookkeeping
STEP_NAMES=(); STEP_RESULTS=(); STEP_SECS=(); STEP_LOGS=(); STEP_NOTES=()
record() {  # name result seconds log note
  STEP_NAMES+=("$1"); STEP_RESULTS+=("$2"); STEP_SECS+=("$3"); STEP_LOGS+=("$4")
  STEP_NOTES+=("$5")
  log "$1: $2 (${3}s) ${5}"
  write_summary
  pack_aux
}

# cap WANT RESERVE: WANT seconds, or less so that RESERVE seconds stay for later steps
cap() {
  local want=$1 reserve=$2 l
  l=$(( $(left) - reserve ))
  if [ "$l" -lt "$want" ]; then want=$l; fi
  echo "$want"
}

# run_step NAME LOG LIMIT CMD...: runs CMD under timeout (SIGINT first, so pytest still writes
# its XML/JSON), output to LOG; sets STEP_RC. Result: ok / FAILED (rc) / TIMEOUT / skipped.
STEP_RC=0
run_step() {
  local name=$1 logf=$2 limit=$3; shift 3
  if [ "$limit" -lt 10 ]; then
    STEP_RC=125; STEP_NOTE=""
    record "$name" "skipped" 0 "$(basename "$logf")" "no time left in the ${BUDGET}s budget"
    return
  fi
  log "$name: starting (limit ${limit}s) -> $(basename "$logf")"
  local t0=$(date +%s)
  timeout -s INT -k 20 "$limit" "$@" >"$logf" 2>&1
  STEP_RC=$?
  local secs=$(( $(date +%s) - t0 )) result
  case $STEP_RC in
    0) result="ok" ;;
    124|137) result="TIMEOUT after ${limit}s" ;;
    5) result="NOTHING RAN (pytest rc 5: all skipped or deselected)" ;;
    *) result="FAILED (rc $STEP_RC)" ;;
  esac
  record "$name" "$result" "$secs" "$(basename "$logf")" "${STEP_NOTE:-}"
  STEP_NOTE=""
}

junit_counts() {  # junit.xml -> "N passed, F failed, E errors, S skipped" (or why not)
  [ -s "$1" ] || { echo "no JUnit XML (step did not run or was killed early)"; return; }
  "$PY" - "$1" <<'EOF' 2>/dev/null || echo "could not read $1"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = t["tests"] - t["failures"] - t["errors"] - t["skipped"]
print(f"{passed} passed, {t['failures']} failed, {t['errors']} errors, {t['skipped']} skipped")
EOF
}

pack_aux() {  # the auxiliary logs travel back as one file
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" . 2>/dev/null || true
}

GPU_COUNTS="not run"; CPU_COUNTS="not run"; BENCH_COUNTS="not run"; TEST_SKIP_NOTE=""
DEVICE_LINE="?"; PKG_LINE="?"; NVCC_LINE="?"
write_summary() {
  local f="$OUT/SUMMARY.md" i
  {
    echo "# fastnn GPU session: $DATE_UTC"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| device | $DEVICE_LINE |"
    echo "| date | $DATE_UTC (started) |"
    echo "| commit | $COMMIT |"
    echo "| host | $(nproc) CPUs, $(uname -sr) |"
    echo "| python | $("$PY" -c 'import sys; print(sys.version.split()[0], sys.executable)' 2>/dev/null) |"
    echo "| packages | $PKG_LINE |"
    echo "| nvcc | $NVCC_LINE |"
    echo "| elapsed | $(elapsed) s of a ${BUDGET} s budget |"
    echo
    echo "## Results"
    echo
    echo "- GPU tests (\`pytest tests -m gpu\`): $GPU_COUNTS"
    echo "- CPU tests (\`pytest tests -m 'not gpu'\`): $CPU_COUNTS"
    echo "- GPU benchmark (bench/test_bench_gpu_gemm.py + test_bench_gpu_ops.py, $REPS repetitions): $BENCH_COUNTS"
    [ -n "$TEST_SKIP_NOTE" ] && echo "- not run: $TEST_SKIP_NOTE"
    if [ -s "$OUT/gpu-bench.md" ]; then
      grep -h "^Geometric mean" "$OUT/gpu-bench.md" | sed 's/^/- /'
    fi
    echo
    echo "## Steps"
    echo
    echo "| step | result | seconds | log | note |"
    echo "|---|---|---:|---|---|"
    for i in "${!STEP_NAMES[@]}"; do
      echo "| ${STEP_NAMES[$i]} | ${STEP_RESULTS[$i]} | ${STEP_SECS[$i]} | ${STEP_LOGS[$i]} | ${STEP_NOTES[$i]} |"
    done
    if [ -s "$WORK/info.txt" ]; then
      echo; echo "## fastnn.info()"; echo; echo '```'; cat "$WORK/info.txt"; echo '```'
    fi
    for i in "${!STEP_NAMES[@]}"; do
      case "${STEP_RESULTS[$i]}" in ok|skipped*) continue ;; esac
      [ "${STEP_NAMES[$i]}" = "fastnn.info" ] && continue  # shown whole above
      local lf="${STEP_LOGS[$i]}" path=""
      [ -f "$OUT/$lf" ] && path="$OUT/$lf"
      [ -f "$WORK/$lf" ] && path="$WORK/$lf"
      [ -n "$path" ] || continue
      echo; echo "## ${STEP_NAMES[$i]}: last 40 lines of $lf"; echo; echo '```'
      tail -n 40 "$path"; echo '```'
    done
  } >"$f.tmp" 2>/dev/null
  mv -f "$f.tmp" "$f"
}

# ---------------------------------------------------------------- 1. the card
log "repo $REPO, OUT $OUT, commit $COMMIT, budget ${BUDGET}s"
{
  echo "# nvidia-smi ($DATE_UTC)"; timeout 20 nvidia-smi 2>&1
  echo; echo "# nvidia-smi --query-gpu (csv)"
  timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,temperature.gpu,pstate,mig.mode.current --format=csv 2>&1
} >"$OUT/nvidia-smi.txt"
DEVICE_LINE=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
if [ -n "$DEVICE_LINE" ]; then
  DEVICE_LINE="$DEVICE_LINE (name, driver, memory)"
else
  DEVICE_LINE="nvidia-smi gave nothing (see nvidia-smi.txt)"
fi

if ! command -v nvcc >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /opt/cuda/bin; do
    if [ -x "$d/nvcc" ]; then export PATH="$d:$PATH"; export CUDACXX="$d/nvcc"; break; fi
  done
fi
NVCC_LINE=$(nvcc --version 2>/dev/null | grep -i release | head -1)
NVCC_LINE=${NVCC_LINE:-"nvcc not found on PATH"}
"$PY" -m pip list 2>/dev/null >"$WORK/pip-list.txt"
PKG_LINE=$(grep -iE '^(numpy|cupy[-a-z0-9]*|torch|pytest|pytest-benchmark|hypothesis|threadpoolctl|scikit-build-core|pybind11|cmake|ninja) ' "$WORK/pip-list.txt" \
           | awk '{printf "%s%s %s", (NR>1?", ":""), $1, $2}')
PKG_LINE=${PKG_LINE:-"pip list failed"}
if grep -q "(name, driver, memory)" <<<"$DEVICE_LINE"; then
  record "nvidia-smi" "ok" 0 "nvidia-smi.txt" "$DEVICE_LINE"
else
  record "nvidia-smi" "FAILED" 0 "nvidia-smi.txt" "no GPU seen: the steps below will say more"
fi

# ---------------------------------------------------------------- 2. build + install
if [ "${SKIP_BUILD:-0}" = "1" ]; then
  record "build" "skipped" 0 "build.log" "SKIP_BUILD=1: using the installed fastnn"
else
  export FASTNN_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
  STEP_NOTE="FASTNN_CUDA=ON, architectures $CUDA_ARCH"
  # reserve ~3 min for tests + benchmark + report
  run_step "build" "$OUT/build.log" "$(cap 300 180)" \
    "$PY" -m pip install --no-build-isolation --no-deps -v \
      -Ccmake.define.FASTNN_CUDA=ON "-Ccmake.define.FASTNN_CUDA_ARCHITECTURES=$CUDA_ARCH" .
  if [ "$STEP_RC" -ne 0 ]; then
    log "build failed: stopping (see build.log)"
    BENCH_COUNTS="not run: build failed"; GPU_COUNTS="not run: build failed"
    CPU_COUNTS="not run: build failed"; write_summary; pack_aux
    tail -n 60 "$OUT/build.log"; echo; cat "$OUT/SUMMARY.md"
    exit 1
  fi
fi

# ---------------------------------------------------------------- 3. what was built
# run from /tmp so `import fastnn` can only be the installed package
run_step "fastnn.info" "$WORK/info.txt" "$(cap 60 120)" bash -c "cd /tmp && '$PY' -c '
import sys, fastnn
print(fastnn.info())
print(\"file:\", fastnn.__file__)
ok = fastnn.cuda_available()
print(\"cuda_available:\", ok)
sys.exit(0 if ok else 3)'"
# How the C++ runtime was linked: this image's toolchain once linked libstdc++ statically
# (ldd then lists no libstdc++), which is fine only while its symbols stay private.
SO=$(cd /tmp && "$PY" -c 'import fastnn._C as c; print(c.__file__)' 2>/dev/null)
if [ -n "$SO" ]; then
  if ldd "$SO" 2>/dev/null | grep -q libstdc++; then LIBSTDCXX="libstdc++: dynamic"
  else LIBSTDCXX="libstdc++: static, $(nm -D --defined-only "$SO" 2>/dev/null | grep -c '_ZNSt6locale') std::locale symbols exported (must be 0)"; fi
  STEP_NOTES[${#STEP_NOTES[@]}-1]="$LIBSTDCXX"; write_summary
fi
if [ "$STEP_RC" -eq 3 ]; then
  log "fastnn.cuda_available() is False: GPU tests and benchmark will skip"
  STEP_NOTES[${#STEP_NOTES[@]}-1]="fastnn.cuda_available() is False (see fastnn.info() below)"
  write_summary
fi

# ---------------------------------------------------------------- 4. tests
# Test modules importing a package missing here would break collection: leave them out.
IGNORES=(); MISSING=()
for m in hypothesis threadpoolctl; do
  if ! "$PY" -c "import $m" >/dev/null 2>&1; then
    MISSING+=("$m")
    for f in $(grep -lE "^\s*(import|from) $m\b" tests/*.py 2>/dev/null); do
      IGNORES+=("--ignore=$f")
    done
  fi
done
if [ ${#MISSING[@]} -gt 0 ]; then
  TEST_SKIP_NOTE="${MISSING[*]} missing on the device: left out ${IGNORES[*]:-nothing}"
  log "$TEST_SKIP_NOTE"
fi

STEP_NOTE="${TEST_SKIP_NOTE}"
run_step "pytest -m gpu" "$OUT/pytest-gpu.log" "$(cap 150 110)" \
  "$PY" -m pytest tests -m gpu -v -rs -p no:cacheprovider \
    --junitxml="$OUT/pytest-gpu.xml" ${IGNORES[@]+"${IGNORES[@]}"}
GPU_COUNTS="$(junit_counts "$OUT/pytest-gpu.xml")$([ "$STEP_RC" -ne 0 ] && echo " (pytest rc $STEP_RC)")"
SKIPS=$(grep -m3 -oE 'SKIPPED \[[0-9]+\] [^ ]+: .*' "$OUT/pytest-gpu.log" 2>/dev/null | cut -c1-200 | tr '\n' ';')
[ -n "$SKIPS" ] && GPU_COUNTS="$GPU_COUNTS; skip reasons: $SKIPS"
write_summary

# ---------------------------------------------------------------- 5. GPU benchmark
GPU_BENCH_FILES=${GPU_BENCH_FILES:-bench/test_bench_gpu_gemm.py bench/test_bench_gpu_ops.py}
STEP_NOTE="$REPS repetitions, systems ${BENCH_GPU_SYSTEMS:-fastnn,cublas,torch}"
run_step "GPU benchmark" "$WORK/gpu-bench.log" "$(cap 270 40)" \
  "$PY" -m pytest $GPU_BENCH_FILES --bench-reps "$REPS" -rs \
    --benchmark-json="$OUT/gpu-bench.json"
BENCH_COUNTS=$(grep -E "^=+ .*(passed|failed|skipped|error).* in [0-9.]+s" "$WORK/gpu-bench.log" | tail -1 | tr -d '=' | sed 's/^ *//')
BENCH_COUNTS=${BENCH_COUNTS:-"no pytest summary line (see gpu-bench.log in logs.tar.gz)"}
if [ ! -s "$OUT/gpu-bench.json" ]; then
  rm -f "$OUT/gpu-bench.json"
  BENCH_COUNTS="$BENCH_COUNTS; NO JSON written"
fi
write_summary

# ---------------------------------------------------------------- 5b. MNIST epochs on the GPU
TRAIN_DATA=${FASTNN_DATA:-}
[ -d "$REPO/gpu-data/mnist" ] && TRAIN_DATA="$REPO/gpu-data/mnist"
if [ -n "$TRAIN_DATA" ]; then
  STEP_NOTE="data $TRAIN_DATA, ${TRAIN_REPS:-3} repetitions"
  run_step "GPU training epochs" "$WORK/train-gpu.log" "$(cap 150 40)" \
    env BENCH_DEVICE=cuda FASTNN_DATA="$TRAIN_DATA" BENCH_REPS="${TRAIN_REPS:-3}" \
      "$PY" -m pytest bench/test_bench_train.py -rs -p no:cacheprovider --benchmark-json="$WORK/train-gpu.json"
else
  record "GPU training epochs" "skipped" 0 "train-gpu.log" "no MNIST: carry gpu-data/mnist (see the header)"
fi

# ---------------------------------------------------------------- 6. report
if [ -s "$OUT/gpu-bench.json" ]; then
  run_step "report" "$WORK/report.log" "$(cap 60 0)" \
    "$PY" bench/report.py "$OUT/gpu-bench.json" -o "$OUT/gpu-bench.md"
else
  record "report" "skipped" 0 "report.log" "no gpu-bench.json"
fi
if [ -s "$WORK/train-gpu.json" ] && "$PY" bench/report.py "$WORK/train-gpu.json" -o "$WORK/train-gpu.md" \
     >"$WORK/train-report.log" 2>&1; then
  { echo; cat "$WORK/train-gpu.md"; } >>"$OUT/gpu-bench.md"
fi

# ---------------------------------------------------------------- 6b. memcheck (optional)
# compute-sanitizer's memcheck over the small GPU test modules: out-of-bounds or misaligned
# device accesses that happen to give right answers. It refuses gVisor machines; capped.
MEMCHECK_TESTS=${MEMCHECK_TESTS:-tests/test_gpu_elementwise.py tests/test_gpu_losses.py tests/test_gpu_optimizers.py}
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ -n "$SAN" ] && [ "${SKIP_MEMCHECK:-0}" != "1" ]; then
  run_step "memcheck (GPU op tests)" "$WORK/memcheck.log" "$(cap 90 60)" \
    "$SAN" --tool memcheck --error-exitcode 9 --print-limit 20 \
      "$PY" -m pytest $MEMCHECK_TESTS -x -q -p no:cacheprovider
  MEMCHECK_TAIL=$(grep -E "ERROR SUMMARY|Invalid|passed|failed" "$WORK/memcheck.log" | tail -3 | tr '\n' ' ')
  STEP_NOTES[${#STEP_NOTES[@]}-1]="$MEMCHECK_TAIL"
  write_summary
else
  record "memcheck (GPU op tests)" "skipped" 0 "memcheck.log" "no compute-sanitizer or SKIP_MEMCHECK=1"
fi

# ---------------------------------------------------------------- 7. CPU tests (last: optional)
if [ "${SKIP_CPU_TESTS:-0}" = "1" ]; then
  CPU_COUNTS="skipped (SKIP_CPU_TESTS=1)"
  record "pytest (CPU)" "skipped" 0 "pytest-cpu.log" "SKIP_CPU_TESTS=1"
else
  STEP_NOTE="${TEST_SKIP_NOTE}"
  run_step "pytest (CPU)" "$WORK/pytest-cpu.log" "$(cap 240 5)" \
    "$PY" -m pytest tests -m "not gpu" -q -rs -p no:cacheprovider \
      --junitxml="$WORK/pytest-cpu.xml" ${IGNORES[@]+"${IGNORES[@]}"}
  CPU_COUNTS="$(junit_counts "$WORK/pytest-cpu.xml")$([ "$STEP_RC" -ne 0 ] && echo " (pytest rc $STEP_RC)")"
  [ "$STEP_RC" -eq 125 ] && CPU_COUNTS="not run: no time left"
fi

write_summary
pack_aux
log "done in $(elapsed)s"
echo
[ -s "$OUT/gpu-bench.md" ] && cat "$OUT/gpu-bench.md" && echo
cat "$OUT/SUMMARY.md"
