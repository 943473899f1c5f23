#!/usr/bin/env bash
# Create (or reuse) the project's Python environment, idempotently.
#
#   bash tools/setup_env.sh        # prints the path of the environment's python
#
# The environment lives outside the work tree so that later clones reuse it:
#   $MMSEG_UEM_HOME (default ~/.cache/mmseg-uem)/venv-py<X.Y>
# mmcv 2.1.0 has no wheel for torch 2.14: it is built once from the PyPI sdist
# (10-25 min on 2 cores) into a wheel directory keyed by Python and torch
# versions, $MMSEG_UEM_HOME/wheels/py<X.Y>-torch<V>/, and reused from there.
# Pip's own wheel cache is bypassed for mmcv: it keys by sdist name only and
# would silently reuse a wheel built against another torch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="${MMSEG_UEM_HOME:-$HOME/.cache/mmseg-uem}"
PYTHON="${PYTHON:-python3.11}"
PY_VER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
VENV="$HOME_DIR/venv-py$PY_VER"
VPY="$VENV/bin/python"
TORCH_PIN="${TORCH_PIN:-2.14.1}"
TORCHVISION_PIN="${TORCHVISION_PIN:-0.29.1}"
log() { echo "[setup_env] $*" >&2; }

mkdir -p "$HOME_DIR"
# One set-up at a time (CI and a developer may share the machine).
exec 9>"$HOME_DIR/.lock"
flock 9

# The editable install: pip's legacy develop mode appends each clone's path to the venv's
# easy-install.pth and never removes one, so the clones this environment ever served (CI's
# fresh ones included) would pile up there. Drop the mmseg-uem checkouts (and the paths that
# no longer exist) first; the Makefile and the tools put their own checkout first anyway.
install_editable() {
    "$VPY" - <<'PY'
import os, site
for folder in site.getsitepackages():
    pth = os.path.join(folder, 'easy-install.pth')
    if not os.path.isfile(pth):
        continue
    with open(pth) as f:
        lines = f.read().splitlines()
    keep = [line for line in lines if line.startswith(('import ', '#')) or not line.strip()
            or (os.path.isdir(line)
                and not os.path.isfile(os.path.join(line, 'mmseg_uem', '__init__.py')))]
    if keep != lines:
        with open(pth, 'w') as f:
            f.write(''.join(line + '\n' for line in keep))
PY
    "$VPY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >&2
}

# Fast path: the stamp records the hash of every requirements file and of
# setup.py; when it matches and the imports work, there is nothing to do.
STAMP="$VENV/.mmseg-uem-stamp"
want_stamp="$(cat "$ROOT/requirements.txt" "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1)"
if [[ -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]] \
    && "$VPY" -c "import mmcv.ops, mmseg.models, mmpretrain, mmseg_uem" 2>/dev/null; then
    # The editable install points at whichever clone ran last: re-point it.
    install_editable
    echo "$VPY"
    exit 0
fi

if [[ ! -x "$VPY" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VPY" -m pip install -q --disable-pip-version-check)
if ! "$VPY" -c "import torch" 2>/dev/null; then
    # GPU users with their own CUDA torch follow the plain-pip path of docs/en/get_started.md.
    "${PIP[@]}" "torch==$TORCH_PIN" "torchvision==$TORCHVISION_PIN"
fi
# mmcv's setup.py imports pkg_resources, gone from setuptools >= 70 (torch
# may have pulled a newer one in): pin it after torch.
"${PIP[@]}" "setuptools<70" wheel

TORCH_VER="$("$VPY" -c 'import torch; print(torch.__version__.split("+")[0])')"
WHEELS="$HOME_DIR/wheels/py$PY_VER-torch$TORCH_VER"
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "building mmcv 2.1.0 with CPU ops against torch $TORCH_VER (10-25 min on 2 cores)"
    build="$(mktemp -d)"
    "$VPY" -m pip download -q --no-deps --no-binary :all: -d "$build" mmcv==2.1.0 >&2
    tar -xzf "$build"/mmcv-2.1.0.tar.gz -C "$build"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
    if grep -q 'C++20 or later' "$("$VPY" -c 'import torch.utils.cpp_extension as c; print(c.include_paths()[0])')/ATen/ATen.h" 2>/dev/null; then
        sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-2.1.0/setup.py"
    fi
    (cd "$build/mmcv-2.1.0" && MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES= \
        MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$VPY" -m pip wheel -q --no-cache-dir --no-deps \
        --no-build-isolation -w "$build/out" . >&2)
    mv "$build"/out/mmcv-2.1.0-*.whl "$WHEELS/"
    rm -rf "$build"
fi
"${PIP[@]}" --no-deps "$WHEELS"/mmcv-2.1.0-*.whl
"${PIP[@]}" -r "$ROOT/requirements.txt"
# mmcv's own requirements (addict, yapf, packaging, ...) come with mmengine.
"${PIP[@]}" addict yapf packaging pyyaml
install_editable
"$VPY" -c "import mmcv.ops, mmseg.models, mmpretrain, mmseg_uem"
# the optional deploy packages (requirements.txt) must import too: CI runs the ONNX tests
"$VPY" -c "import onnx, onnxscript, onnxruntime"
echo "$want_stamp" >"$STAMP"
log "environment ready: $VENV"
echo "$VPY"
