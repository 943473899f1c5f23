#!/usr/bin/env bash
# Run both stages of a stage-2 config in one command:
#   bash tools/train_two_stage.sh configs/uem/dinov2_gg_cityscapes.py [GPUS] [train.py args]
# Stage 1 (its `stage1_config`) is trained into `model.stage1_checkpoint` (a stage-1 work
# dir, or the folder of a checkpoint file), unless a checkpoint is there already; then stage 2
# is trained.
set -euo pipefail
CONFIG=$1
GPUS=${2:-1}
shift $(( $# >= 2 ? 2 : 1 ))
PYTHON=${PYTHON:-python}
TOOLS="$(dirname "$0")"

# stage-1 config, its work dir, and the checkpoint found there (or '-')
read -r STAGE1_CONFIG STAGE1_DIR STAGE1_CKPT < <(PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
    "$PYTHON" - "$CONFIG" <<'PY'
import os.path as osp
import sys
from mmengine.config import Config
from mmseg_uem.models.segmentors.stage1 import find_checkpoint
cfg = Config.fromfile(sys.argv[1])
path = cfg.model.stage1_checkpoint
work_dir = path if osp.isdir(path) or not osp.splitext(path)[1] else osp.dirname(path)
print(cfg.stage1_config, work_dir, find_checkpoint(path) or '-')
PY
)

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
    echo "[two-stage] stage 1: $STAGE1_CONFIG -> $STAGE1_DIR"
    train "$STAGE1_CONFIG" --work-dir "$STAGE1_DIR" "$@"
fi
echo "[two-stage] stage 2: $CONFIG"
train "$CONFIG" "$@"
