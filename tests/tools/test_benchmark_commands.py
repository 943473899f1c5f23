"""The benchmark and parity commands of docs/en/advanced_guides/performance.md,
docs/en/user_guides/4_deployment.md and 6_foundation_models.md, run as a user runs them at
tiny sizes, the DINOv3 comparison at full size with one timed call (a smoke test of the
scripts: they run and print their tables; the numbers they print are not asserted, as
timings are never tested).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY_ARCH = json.dumps(dict(embed_dims=32, num_layers=4, num_heads=2))
TINY = ['--window', '28', '56', '--image', '56', '112', '--stride', '28', '28']

COMMANDS = {
    'metric_speed': (['tools/benchmarks/metric_speed.py', '--num-pixels', '20000',
                      '--threads', '1'], ['AUROC', 'speed-up']),
    'pipeline_speed': (['tools/benchmarks/pipeline_speed.py', '--size', '64', '128',
                        '--num-frames', '2', '--repeats', '1'],
                       ['without AnomalyMix', 'AnomalyMix p=0.2']),
    'throughput': (['tools/benchmarks/throughput.py', '--device', 'cpu', '--arch', TINY_ARCH,
                    '--out-indices', '0', '1', '2', '3', '--crop', '28', '56', '--batch', '1',
                    *TINY, '--channels', '16', '--memory-size', '20', '--mlp-channels', '16',
                    '8', '--num-classes', '3', '--runs', '1', '--warmup', '0', '--threads',
                    '1'], ['stage-2 step G-G', 'GFLOP', 'deferred_checks']),
    # docs/en/user_guides/6_foundation_models.md: full-size ViT-B backbones, one timed call
    'throughput_dinov3': (['tools/benchmarks/throughput.py', '--arch', 'vitb16', '--device',
                           'cpu', '--batch', '1', '--runs', '1', '--warmup', '0',
                           '--precisions', 'fp32', '--attention', 'auto', '--threads', '1'],
                          ['| DINOv3 vitb16 | 512x1024 | 2048 |',
                           '| DINOv2 vitb14_reg | 518x1036 | 2738 |']),
    'onnx_speed': (['tools/benchmarks/onnx_speed.py', '--variants', 'D', '--threads', '1',
                    *TINY, '--runs', '1', '--warmup', '0'], ['| D (ID) |', 'onnxruntime=']),
    'check_parity': (['tools/deployment/check_parity.py', '--sizes', 'demo', '--variants', 'D',
                      '--threads', '1'], ['| demo | D |', 'PASS']),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', list(COMMANDS))
def test_documented_benchmark_runs(name, tmp_path):
    args, expected = COMMANDS[name]
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, str(ROOT / args[0]), *args[1:]], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for text in expected:
        assert text in out, (text, out[-3000:])
