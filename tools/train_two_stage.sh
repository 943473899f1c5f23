#!/usr/bin/env bash
# Run both stages of a stage-2 config in one command:
#   bash tools/train_two_stage.sh configs/uem/dinov2_gg_cityscapes.py [GPUS] [train.py args]
# Stage 1 (its `stage1_config`) is trained into the folder of `model.stage1_checkpoint`,
# unless that checkpoint exists already; then stage 2 is trained.
set -euo pipefail
CONFIG=$1
GPUS=${2:-1}
shift $(( $# >= 2 ? 2 : 1 ))
PYTHON=${PYTHON:-python}
TOOLS="$(dirname "$0")"

read -r STAGE1_CONFIG STAGE1_CKPT < <("$PYTHON" - "$CONFIG" <<'PY'
import sys
from mmengine.config import Config
cfg = Config.fromfile(sys.argv[1])
print(cfg.stage1_config, cfg.model.stage1_checkpoint)
PY
)

train() {
    if [[ "$GPUS" -gt 1 ]]; then
        bash "$TOOLS/dist_train.sh" "$1" "$GPUS" "${@:2}"
    else
        "$PYTHON" "$TOOLS/train.py" "$@"
    fi
}

if [[ -f "$STAGE1_CKPT" ]]; then
    echo "[two-stage] stage 1: found $STAGE1_CKPT"
else
    echo "[two-stage] stage 1: $STAGE1_CONFIG -> $STAGE1_CKPT"
    train "$STAGE1_CONFIG" --work-dir "$(dirname "$STAGE1_CKPT")" "$@"
fi
echo "[two-stage] stage 2: $CONFIG"
train "$CONFIG" "$@"
