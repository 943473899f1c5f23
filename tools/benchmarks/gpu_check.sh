#!/usr/bin/env bash
# The GPU checks of the performance work in one script, for a GPU machine without network or
# mm* packages (Python 3.12, CUDA torch, timm).
#
#   bash tools/benchmarks/gpu_check.sh --prepare [WHEELS]   # here: fill .gpu-wheels/
#   bash tools/benchmarks/gpu_check.sh OUT [--quick]         # there: install, measure, write OUT/
#
# --prepare copies the prebuilt cp312 wheels (mmcv 2.1.0 built against the GPU machine's torch,
# mmengine, mmseg and what they import; default ../shared/device-wheels) into .gpu-wheels/
# (git-ignored; carry it to the GPU machine) and adds pytest and hypothesis for the CUDA tests.
# On the GPU machine the script installs them with --no-index into /tmp/site (seconds), then
# writes to OUT: env.txt, throughput.{md,json} (backbone ours / timm, stage-1 and stage-2 steps,
# G-G slide inference stock vs batched, host syncs of a training step), slide_dd.{md,json}
# (D-D slide inference: batched vs stock maps, fp32), metric_speed.txt (5e7 pixels, ours vs
# sklearn) and cuda_tests.txt.
# --quick shortens the timing runs (3 runs, 1 warm-up). Each part has its own time limit, and a
# failing part does not stop the others (540 s at most in all, inside a 10-minute limit on one remote command);
# the exit status is that of the first failure.
# GPU_CHECK_DEVICE=cpu runs the same parts on the CPU (a smoke test of the script itself).
set -uo pipefail
cd "$(dirname "$0")/../.."
WHEEL_DIR=.gpu-wheels

if [[ "${1:-}" == "--prepare" ]]; then
    src=${2:-../shared/device-wheels}
    ls "$src"/*.whl > /dev/null || { echo "no wheels under $src" >&2; exit 1; }
    mkdir -p "$WHEEL_DIR"
    cp "$src"/*.whl "$WHEEL_DIR"/
    python3 -m pip download -q --only-binary=:all: --no-deps --python-version 3.12 \
        --implementation py --dest "$WHEEL_DIR" \
        pytest pluggy iniconfig packaging pygments hypothesis sortedcontainers attrs tqdm || exit 1
    ls "$WHEEL_DIR"
    exit 0
fi

OUT=${1:?usage: gpu_check.sh OUT [--quick] | --prepare [WHEELS]}
QUICK=()
[[ "${2:-}" == "--quick" ]] && QUICK=(--runs 3 --warmup 1)
DEVICE=${GPU_CHECK_DEVICE:-cuda}
mkdir -p "$OUT"
status=0
record() { local rc=$1; [[ $rc -ne 0 && $status -eq 0 ]] && status=$rc; return 0; }

if [[ -d "$WHEEL_DIR" ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
        "$WHEEL_DIR"/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no $WHEEL_DIR/: using the installed packages" >&2
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c 'import sys, torch, mmcv, mmengine, mmseg; print(sys.version.split()[0], torch.__version__, torch.version.cuda, mmcv.__version__, mmengine.__version__, mmseg.__version__)'
} > "$OUT/env.txt" 2>&1
record $?
cat "$OUT/env.txt"

timeout 300 python3 tools/benchmarks/throughput.py --device "$DEVICE" "${QUICK[@]}" \
    --out "$OUT/throughput" 2>&1 | grep -v 'build_loss\|warnings.warn' | tee "$OUT/throughput.log"
record "${PIPESTATUS[0]}"
timeout 90 python3 tools/benchmarks/throughput.py --device "$DEVICE" "${QUICK[@]}" \
    --sections infer --infer-variant D-D --infer-precisions fp32 --no-syncs \
    --out "$OUT/slide_dd" 2>&1 | grep -v 'build_loss\|warnings.warn' | tail -n 8
record "${PIPESTATUS[0]}"
timeout 90 python3 tools/benchmarks/metric_speed.py --device "$DEVICE" --num-pixels 5e7 2>&1 \
    | tee "$OUT/metric_speed.txt"
record "${PIPESTATUS[0]}"
timeout 60 python3 -m pytest -q -p no:cacheprovider -k cuda \
    tests/models/decode_heads/test_gmm_head.py tests/evaluation/test_pixel_metrics.py 2>&1 \
    | tail -n 15 | tee "$OUT/cuda_tests.txt"
record "${PIPESTATUS[0]}"
exit $status
