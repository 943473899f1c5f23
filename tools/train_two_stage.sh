#!/usr/bin/env bash
# Run both stages of a stage-2 config in one command:
#   bash tools/train_two_stage.sh CONFIG [GPUS] [ARGS...] [--stage1 ARGS...] [--stage2 ARGS...]
# ARGS before --stage1 / --stage2 go to both stages' tools/train.py (e.g. --amp); those after
# --stage1 to stage 1 only, after --stage2 to stage 2 only, e.g.
#   bash tools/train_two_stage.sh configs/uem/dinov2_gg_cityscapes.py 4 \
#       --stage1 --cfg-options train_cfg.max_iters=20000 \
#       --stage2 --cfg-options model.auxiliary_head.alpha=0.5
# Stage 1 (the config's `stage1_config`) is trained into `model.stage1_checkpoint` (a stage-1
# work dir, or the folder of a checkpoint file), read from the stage-2 config with the stage-2
# arguments applied (what stage 2 will load), unless a checkpoint is there already; then
# stage 2 runs.
# The interpreter is $PYTHON (default: `python` on PATH), e.g.
#   PYTHON=~/.cache/mmseg-uem/venv-py3.11/bin/python bash tools/train_two_stage.sh ...
set -euo pipefail
CONFIG=$1
GPUS=1
if [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]]; then
    GPUS=$2
    shift 2
else
    shift 1
fi
PYTHON=${PYTHON:-python}
export PYTHON
TOOLS="$(dirname "$0")"

COMMON=() STAGE1=() STAGE2=()
dest=common
for arg in "$@"; do
    case "$arg" in
        --stage1) dest=stage1; continue ;;
        --stage2) dest=stage2; continue ;;
    esac
    case "$dest" in
        common) COMMON+=("$arg") ;;
        stage1) STAGE1+=("$arg") ;;
        stage2) STAGE2+=("$arg") ;;
    esac
done
ARGS1=("${COMMON[@]+"${COMMON[@]}"}" "${STAGE1[@]+"${STAGE1[@]}"}")
ARGS2=("${COMMON[@]+"${COMMON[@]}"}" "${STAGE2[@]+"${STAGE2[@]}"}")

stage1_info() {  # STAGE1 <config> <stage1_checkpoint> <its work dir> <checkpoint there, or ->
    "$PYTHON" "$TOOLS/train.py" "$CONFIG" "${ARGS2[@]+"${ARGS2[@]}"}" --stage1-info \
        | grep '^STAGE1'$'\t'
}
IFS=$'\t' read -r _ STAGE1_CONFIG STAGE1_PATH STAGE1_DIR STAGE1_CKPT <<<"$(stage1_info)"

train() {
    if [[ "$GPUS" -gt 1 ]]; then
        bash "$TOOLS/dist_train.sh" "$1" "$GPUS" "${@:2}"
    else
        "$PYTHON" "$TOOLS/train.py" "$@"
    fi
}

if [[ "$STAGE1_CKPT" != "-" ]]; then
    echo "[two-stage] stage 1: found $STAGE1_CKPT"
else
    echo "[two-stage] stage 1: $STAGE1_CONFIG -> $STAGE1_PATH"
    train "$STAGE1_CONFIG" --work-dir "$STAGE1_DIR" "${ARGS1[@]+"${ARGS1[@]}"}"
    IFS=$'\t' read -r _ _ _ _ STAGE1_CKPT <<<"$(stage1_info)"
    if [[ "$STAGE1_CKPT" == "-" ]]; then
        echo "[two-stage] stage 1 finished without the checkpoint that model.stage1_checkpoint" \
             "of $CONFIG names (a file's name must match stage 1's last checkpoint)" >&2
        exit 1
    fi
fi
echo "[two-stage] stage 2: $CONFIG"
train "$CONFIG" "${ARGS2[@]+"${ARGS2[@]}"}"
