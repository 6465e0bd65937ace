#!/usr/bin/env bash
# The GPU check: on a machine with a GPU, in under 8 minutes, it runs
#   - the gpu-marked tests (pytest -m gpu: our XLA-compiled layers against Keras's cuDNN
#     layers, outputs, states and gradients; a whole model as one XLA program),
#   - benchmarks/layers.py --device gpu (training throughput, batch-1 latency),
#   - benchmarks/generation.py and benchmarks/translate.py (generation and decoding),
# and writes one Markdown report: each section with its exact command and its output. A
# step that fails (or runs past its timeout) is recorded with its last lines, the later
# steps still run, and the script exits 1 at the end; without a GPU it stops at once with
# exit status 2.
#
# Usage, from the repository root:
#   bash benchmarks/gpu_check.sh [REPORT]          # default ./gpu_check_report.md
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
#   GPU_CHECK_ALLOW_CPU=1 bash benchmarks/gpu_check.sh   # no GPU: a CPU dry run of the script
#
# Environment: PYTHON (default python), a Python with this package installed;
# GPU_CHECK_BUDGET_S (default 460), the script's time from its start: a step gets at most
# 300 s and what is left of it, a step that would get under 15 s is skipped as failed;
# GPU_CHECK_ALLOW_CPU=1, where TensorFlow sees no GPU, runs every step on the CPU with the
# smallest sizes (to test this script, not to measure anything).
set -euo pipefail

REPORT=${1:-./gpu_check_report.md}
PYTHON=${PYTHON:-python}
BUDGET_S=${GPU_CHECK_BUDGET_S:-460}
STEP_TIMEOUT_S=300
ME=benchmarks/gpu_check.sh
INVOCATION="bash $ME${*:+ $*}"

case $REPORT in
/*) ;;
*) REPORT="$PWD/$REPORT" ;;
esac
mkdir -p "$(dirname "$REPORT")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# other processes may hold part of the GPU's memory; take it as needed, not all at once
export TF_FORCE_GPU_ALLOW_GROWTH=${TF_FORCE_GPU_ALLOW_GROWTH:-true}
export RNN_APPS_OFFLINE=1

if ! "$PYTHON" -c "import custom_layers, recipes" 2>/dev/null; then
    echo "$ME: '$PYTHON' cannot import this package; set PYTHON to the project's Python (e.g. PYTHON=.venv/bin/python)." >&2
    exit 2
fi
GPUS=$("$PYTHON" -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))' 2>/dev/null || echo 0)
GPUS=${GPUS##*$'\n'}
[[ $GPUS =~ ^[0-9]+$ ]] || GPUS=0
if [[ $GPUS -gt 0 ]]; then
    MODE=gpu
elif [[ ${GPU_CHECK_ALLOW_CPU:-0} == 1 ]]; then
    MODE=cpu
else
    echo "$ME: TensorFlow sees no GPU; run it on a machine with one (GPU_CHECK_ALLOW_CPU=1 runs a CPU dry run of the script)." >&2
    exit 2
fi

if [[ $MODE == gpu ]]; then
    LAYERS_ARGS=(--device gpu --configs large small --layers LSTM GRU --formulations auto
        --epochs 3 --batches 8)
    GENERATION_ARGS=(--repeats 3)
    TRANSLATE_ARGS=(--repeats 3)
else
    LAYERS_ARGS=(--device cpu --configs small --layers LSTM --formulations auto
        --epochs 1 --batches 1)
    GENERATION_ARGS=(--length 10 --predict-length 3 --repeats 1)
    TRANSLATE_ARGS=(--batch 4 --length 3 --repeats 1)
fi
# the roofline: each layer against its own matmuls alone (older checkouts lack the option)
if "$PYTHON" benchmarks/layers.py --help 2>/dev/null | grep -q -- '--roofline'; then
    ROOFLINE=1
    LAYERS_ARGS+=(--roofline)
else
    ROOFLINE=0
fi

PY_VERSION=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
: >"$WORK/body.md"
: >"$WORK/summary.md"
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
DEADLINE=$BUDGET_S # SECONDS counts from the script's start
FAILED=()
N=0

# Markdown of a benchmark's stdout: its tables as they are, every other line a paragraph.
md_tables() {
    awk '/^[[:space:]]*$/ { next }
        { table = /^\|/; if (seen && !(table && last)) print ""; print; last = table; seen = 1 }' "$1"
}

fenced() { # FILE [LINES]: the file (or its last LINES lines) in a text block
    if [[ ! -s $1 ]]; then
        echo "(nothing)"
        return
    fi
    echo '```text'
    if [[ -n ${2:-} ]]; then tail -n "$2" "$1"; else cat "$1"; fi
    echo '```'
}

write_report() {
    {
        echo "# GPU check"
        echo
        if [[ $MODE == gpu ]]; then
            echo "Mode: **GPU** ($GPUS visible to TensorFlow)."
        else
            echo "Mode: **CPU dry run** (GPU_CHECK_ALLOW_CPU=1, no GPU visible): every step on"
            echo "the CPU with the smallest sizes; it tests this script, its figures mean nothing."
        fi
        echo
        echo "- started: $STARTED; $((SECONDS))s so far (budget ${BUDGET_S}s, ${STEP_TIMEOUT_S}s a step)"
        echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(
            [[ -n $(git status --porcelain 2>/dev/null) ]] && echo ' (with uncommitted changes)')"
        echo "- host: $(hostname); Python: $PY_VERSION ($PYTHON)"
        echo "- environment: TF_FORCE_GPU_ALLOW_GROWTH=$TF_FORCE_GPU_ALLOW_GROWTH," \
            "RNN_APPS_OFFLINE=1; TF32 at TensorFlow's default in the benchmarks (the tests turn it off)"
        echo "- command: \`$INVOCATION\`"
        echo
        echo "| step | result | seconds |"
        echo "|---|---|---:|"
        cat "$WORK/summary.md"
        echo
        if [[ ${#FAILED[@]} -gt 0 ]]; then
            echo "**Failed: ${FAILED[*]}.**"
        else
            echo "No step failed."
        fi
        echo
        cat "$WORK/body.md"
    } >"$REPORT.tmp"
    mv "$REPORT.tmp" "$REPORT"
}

# step ID TITLE FORMAT COMMAND...: runs COMMAND under the time left, records its section.
# FORMAT: "md" (stdout holds Markdown tables), "text" (stdout in a text block) or
# "tail" (the last 40 lines of stdout in a text block).
step() {
    local id=$1 title=$2 format=$3
    shift 3
    N=$((N + 1))
    local out="$WORK/$id.out" err="$WORK/$id.err" start=$SECONDS rc=0 left limit
    local shown
    shown=$(printf '%q ' "$@")
    shown=${shown% }
    left=$((DEADLINE - SECONDS))
    limit=$((left < STEP_TIMEOUT_S ? left : STEP_TIMEOUT_S))
    echo "$ME: [$N] $title ..." >&2
    if [[ $limit -lt 15 ]]; then
        rc=skipped
        : >"$out"
        echo "not run: ${left}s of the ${BUDGET_S}s budget left" >"$err"
    else
        timeout --kill-after=10 "$limit" "$@" >"$out" 2>"$err" || rc=$?
    fi
    local took=$((SECONDS - start)) result
    case $rc in
    0) result=passed ;;
    124 | 137) result="FAILED: timed out after ${limit}s" ;;
    skipped) result="FAILED: skipped, budget spent" ;;
    *) result="FAILED: exit status $rc" ;;
    esac
    [[ $rc == 0 ]] || FAILED+=("$id")
    echo "| [$N. $title](#$N-$id) | $result | $took |" >>"$WORK/summary.md"
    {
        echo "<a id=\"$N-$id\"></a>"
        echo
        echo "## $N. $title"
        echo
        echo "Command: \`$shown\`"
        echo
        echo "Result: $result, ${took}s."
        echo
        if [[ $rc == 0 ]]; then
            case $format in
            md) md_tables "$out" ;;
            text) fenced "$out" ;;
            tail) fenced "$out" 40 ;;
            esac
        else
            echo "Last lines of stdout:"
            echo
            fenced "$out" 40
            echo
            echo "Last lines of stderr:"
            echo
            fenced "$err" 40
        fi
        echo
    } >>"$WORK/body.md"
    cp "$out" "$WORK/$id.stdout"
    echo "$ME: [$N] $title: $result (${took}s)" >&2
    write_report
}

# a section computed from earlier steps' output, not a step of its own
section() { # TITLE; the body on stdin
    {
        echo "## $1"
        echo
        cat
        echo
    } >>"$WORK/body.md"
}

if command -v nvidia-smi >/dev/null; then
    step nvidia-smi "nvidia-smi" text nvidia-smi
else
    section "nvidia-smi" <<<"nvidia-smi not found on PATH (not counted as a failure)."
fi

step tensorflow "TensorFlow's GPUs" text "$PYTHON" benchmarks/machine.py

step tests "GPU tests" tail "$PYTHON" -m pytest -m gpu -q -rfEs -p no:cacheprovider tests

step layers "Layers: XLA custom layers against Keras" md \
    "$PYTHON" benchmarks/layers.py "${LAYERS_ARGS[@]}"

if [[ -s $WORK/layers.stdout ]] && grep -q '^Inference latency' "$WORK/layers.stdout"; then
    awk '/^Inference latency/ { found = 1 } found && /^$/ { exit } found' \
        "$WORK/layers.stdout" >"$WORK/latency.txt"
    {
        echo "From step ${N} (benchmarks/layers.py, the same run): one forward pass of one"
        echo "sequence, the median of interleaved calls, the best jit setting of each."
        echo
        md_tables "$WORK/latency.txt"
    } | section "Batch-1 latency"
else
    section "Batch-1 latency" <<<"No latency table: benchmarks/layers.py failed or printed none (see its section)."
fi

{
    if [[ $ROOFLINE == 1 ]] && grep -qi '^roofline' "$WORK/layers.stdout" 2>/dev/null; then
        echo "From step ${N} (benchmarks/layers.py --roofline):"
        echo
        awk 'tolower($0) ~ /^roofline/ { found = 1 } found && /^$/ { exit } found' \
            "$WORK/layers.stdout" >"$WORK/roofline.txt"
        md_tables "$WORK/roofline.txt"
    elif [[ $ROOFLINE == 1 ]]; then
        echo "benchmarks/layers.py took --roofline but printed no block starting with"
        echo "\"Roofline\"; its output is in step ${N}."
    else
        echo "Not measured: this checkout's benchmarks/layers.py has no \`--roofline\` option."
    fi
    if grep -q '^Measured matmul' "$WORK/layers.stdout" 2>/dev/null; then
        echo
        echo "The compute roof layers.py measures today (its matmul line, step ${N}):"
        echo
        grep '^Measured matmul' "$WORK/layers.stdout"
    fi
} | section "Roofline"
write_report

step generation "Generation: benchmarks/generation.py" md \
    "$PYTHON" benchmarks/generation.py "${GENERATION_ARGS[@]}"

step decoding "Decoding: benchmarks/translate.py" md \
    "$PYTHON" benchmarks/translate.py "${TRANSLATE_ARGS[@]}"

echo "$ME: report in $REPORT (${SECONDS}s)" >&2
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "$ME: failed: ${FAILED[*]}" >&2
    exit 1
fi
