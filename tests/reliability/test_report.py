"""tools/analysis/report.py on two runs of tools/test.py, loaded in headless Chromium: no
console error, every image loaded, one table row per image, sorting works; a page for runs
without labels. The screenshot is kept as a test artefact."""
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from rel_utils import ROOT, make_data, make_stage1_checkpoint, run_tool, write_config

from mmseg_uem.evaluation.io import iter_anomaly_maps, save_anomaly_map, write_manifest

REPORT = ROOT / 'tools' / 'analysis' / 'report.py'
#: where the screenshot is kept (CI uploads work_dirs/test_artefacts)
ARTEFACTS = Path(os.environ.get('UEM_TEST_ARTEFACTS', ROOT / 'work_dirs' / 'test_artefacts'))
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']

#: inserted first in <head>: collect every script error and console.error
_CATCH = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push('error: ' + e.message); });
console.error = function () { window.__errors.push(Array.from(arguments).join(' ')); };
</script>"""
#: appended to <body>: the checks, written into <pre id=result>
_CHECK = """<script>
window.addEventListener('load', function () {
  function column(t, c) {
    return Array.from(t.tBodies[0].rows).map(function (r) {
      return r.cells[c].getAttribute('data-v'); });
  }
  var imgs = Array.from(document.images);
  var out = {images: imgs.length,
             broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                         .map(function (i) { return i.alt; })};
  var t = document.getElementById('images');
  out.rows = t ? t.tBodies[0].rows.length : null;
  if (t) {
    var th = t.tHead.rows[0].cells[2];
    out.column = th.textContent;
    th.click(); out.asc = column(t, 2);
    th.click(); out.desc = column(t, 2);
  }
  out.errors = window.__errors;
  var pre = document.createElement('pre');
  pre.id = 'result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found is None:
        pytest.fail('chromium is not installed (apt-get install chromium; .ci/run installs it)')
    return found


def _browse(page: Path, tmp: Path) -> dict:
    """Load ``page`` with the checks in headless Chromium; the checks' results."""
    text = page.read_text()
    harness = page.with_name('harness.html')
    harness.write_text(text.replace('<head>', '<head>' + _CATCH, 1)
                       .replace('</body>', _CHECK + '</body>', 1))
    proc = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f'--user-data-dir={tmp / "profile-dom"}',
         '--enable-logging=stderr', '--v=0', '--virtual-time-budget=20000', '--dump-dom',
         harness.as_uri()], capture_output=True, text=True, timeout=180)
    match = re.search(r'<pre id="result">(.*?)</pre>', proc.stdout, re.S)
    assert match, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(match.group(1).replace('&quot;', '"').replace('&amp;', '&'))
    # messages the page sent to the console (Chromium logs them as CONSOLE lines)
    result['console'] = [line for line in proc.stderr.splitlines() if ':CONSOLE' in line]
    return result


def _screenshot(page: Path, tmp: Path, name: str) -> Path:
    shot = tmp / name
    subprocess.run([_chromium(), *CHROMIUM_FLAGS, f'--user-data-dir={tmp / "profile-shot"}',
                    '--window-size=1400,2600', '--virtual-time-budget=20000',
                    f'--screenshot={shot}', page.as_uri()],
                   capture_output=True, text=True, timeout=180, check=True)
    assert shot.stat().st_size > 10_000
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTEFACTS / name)
    return shot


def _static_checks(text: str) -> None:
    """Self-contained: nothing fetched from anywhere."""
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:|//)', text)
    assert '<link' not in text and '@import' not in text and 'url(' not in text
    assert 'https://' not in text and 'http://' not in text


@pytest.mark.slow
def test_report_of_two_runs_in_chromium(tmp_path):
    data = make_data(tmp_path / 'data', road_anomaly=4)
    config = write_config(tmp_path / 'stage1.py', data)
    ckpt = make_stage1_checkpoint(config, tmp_path / 'stage1.pth')
    for name, score in (('id', 'ID'), ('msp', 'MSP')):
        run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--eval', 'AP', 'FPR95',
                 '--out', tmp_path / name, '--work-dir', tmp_path / f'work_{name}',
                 '--cfg-options', f'model.test_cfg.score={score}', cwd=tmp_path.parent)
    record = json.loads((tmp_path / 'id' / 'run.json').read_text())
    assert record['score'] == 'ID' and record['runtime']['images_per_s'] > 0
    assert record['dataset'] == 'RoadAnomalyDataset' and 'ood/AP' in record['metrics']
    # what the metric counted: the anomaly / inlier pixels of the saved labels
    labels = [m['label'] for m in iter_anomaly_maps(str(tmp_path / 'id'))]
    assert record['counts']['positives'] == sum(int((lb == 1).sum()) for lb in labels)
    assert record['counts']['negatives'] == sum(int((lb == 0).sum()) for lb in labels)

    start = time.perf_counter()
    proc = run_tool(REPORT, f'ID={tmp_path / "id"}', f'MSP={tmp_path / "msp"}', '--out',
                    tmp_path / 'report', '--min-pred-size', '10', cwd=tmp_path)
    seconds = time.perf_counter() - start
    assert 'report: ' in proc.stdout
    page = tmp_path / 'report' / 'index.html'
    text = page.read_text()
    _static_checks(text)
    # the summary recomputes the run's own printed AP from its maps
    ap = record['metrics']['ood/AP']
    assert f'{ap:.2f}' in text
    num_images = len(list(iter_anomaly_maps(str(tmp_path / 'id'))))
    result = _browse(page, tmp_path)
    assert result['errors'] == [] and result['console'] == [], result
    assert result['images'] > 2 * num_images and result['broken'] == [], result
    assert result['rows'] == num_images == 4
    assert result['column'] == 'AP (ID)'
    asc = [float(v) if v else np.inf for v in result['asc']]
    assert asc == sorted(asc) and result['desc'] != result['asc'], result
    shot = _screenshot(page, tmp_path, 'report_two_runs.png')
    print(f'report of 2 runs x {num_images} images in {seconds:.1f} s; screenshot {shot}')


@pytest.mark.slow
def test_report_without_labels_is_a_clear_page(tmp_path):
    rng = np.random.default_rng(0)
    maps = tmp_path / 'run' / 'maps'
    images = {}
    for i in range(3):
        img = tmp_path / f'frame{i}.png'
        from PIL import Image
        Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(img)
        save_anomaly_map(str(maps / f'frame{i}'), rng.normal(size=(24, 40)), img_path=str(img))
        images[f'frame{i}'] = str(img)
    write_manifest(str(maps), images, num_images=3)
    run_tool(REPORT, tmp_path / 'run', '--out', tmp_path / 'report', cwd=tmp_path)
    page = tmp_path / 'report' / 'index.html'
    text = page.read_text()
    _static_checks(text)
    assert 'No labels' in text and 'Highest scores' in text and 'id=images' not in text
    result = _browse(page, tmp_path)
    assert result['errors'] == [] and result['console'] == [] and result['broken'] == []
    assert result['rows'] is None and result['images'] == 3 * 2 + 1  # input + heat, colour bar
    _screenshot(page, tmp_path, 'report_no_labels.png')


def _report_module():
    """tools/analysis/report.py as a module (an application, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location('report_tool', REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_run(folder: Path, frames: dict, *, score_mode: str = 'LLR') -> None:
    """A tools/test.py --out folder: maps of ``{name: (score, label)}``, run.json naming the
    score."""
    images = {}
    for name, (score, label) in frames.items():
        images[name] = f'/frames/{folder.name}/{name}.png'
        save_anomaly_map(str(folder / 'maps' / name), score, label=label,
                         img_path=images[name], score_mode=score_mode)
    write_manifest(str(folder / 'maps'), images, num_images=len(frames), score_mode=score_mode)
    (folder / 'run.json').write_text(json.dumps(dict(score=score_mode)))


def test_normal_frames_give_a_run_its_false_alarms(tmp_path, monkeypatch):
    """--normal NAME=RUN: FA-img / FA-px of NAME at its threshold on RUN's frames without
    anomalies, worked out by hand; the mistakes are one clear error each."""
    from mmseg_uem.evaluation.operating_point import save_operating_point

    report = _report_module()
    label = np.zeros((20, 30), np.uint8)
    label[4:9, 4:9] = 1
    _write_run(tmp_path / 'lr', {'a': (label.astype(np.float32), label)})
    save_operating_point(str(tmp_path / 'lr' / 'operating_point.json'), threshold=0.5,
                         tpr=0.95, tpr_reached=1.0, fpr=0.0, positives=25, negatives=575)
    normal = {}
    for name, box in (('n0', (slice(5, 11), slice(5, 11))),  # 36 px: a false alarm
                      ('n1', (slice(12, 14), slice(20, 22))),  # 4 px: below min_pred_size
                      ('n2', (slice(0, 2), slice(None)))):  # only void pixels: never flagged
        score, inlier = np.zeros((20, 30), np.float32), np.zeros((20, 30), np.uint8)
        inlier[:2] = 255
        score[box] = 1.0
        normal[name] = (score, inlier)
    _write_run(tmp_path / 'normal', normal)

    run = report.Run('LR', str(tmp_path / 'lr'), min_pred_size=10, min_gt_size=1)
    assert run.threshold == 0.5 and np.isnan(run.metrics['FA-img'])
    run.score_normal_frames(str(tmp_path / 'normal'))
    # frames: 1 of 3 has a component of >= 10 px; pixels: 36 + 4 of 3 x 540 valid
    assert run.metrics['FA-img'] == pytest.approx(1 / 3)
    assert run.metrics['FA-px'] == pytest.approx(40 / 1620)
    assert run.normal == dict(path=str(tmp_path / 'normal'), frames=3)
    page = Path(report.build_report([run], str(tmp_path / 'report'))).read_text()
    assert f'LR: 3 frames of {tmp_path / "normal"}' in page and '33.33' in page

    fresh = report.Run('LR', str(tmp_path / 'lr'), min_pred_size=10, min_gt_size=1)
    _write_run(tmp_path / 'not_normal', {'a': (label.astype(np.float32), label)})
    with pytest.raises(ValueError, match=r'a.png has anomaly pixels; give a run on frames '):
        fresh.score_normal_frames(str(tmp_path / 'not_normal'))
    _write_run(tmp_path / 'id', normal, score_mode='ID')
    with pytest.raises(ValueError, match='its maps hold the ID score, run LR the LLR score'):
        fresh.score_normal_frames(str(tmp_path / 'id'))
    _write_run(tmp_path / 'mixed', {'a': (label.astype(np.float32), label), 'n0': normal['n0']})
    mixed = report.Run('M', str(tmp_path / 'mixed'), min_pred_size=10, min_gt_size=1)
    assert mixed.metrics['FA-img'] == 1.0  # its one normal frame has the 36 px component
    with pytest.raises(ValueError, match='run M has frames without anomalies of its own'):
        mixed.score_normal_frames(str(tmp_path / 'normal'))
    monkeypatch.setattr('sys.argv', ['report.py', f'LR={tmp_path / "lr"}', '--out',
                                     str(tmp_path / 'r2'), '--normal', f'ID={tmp_path / "id"}'])
    with pytest.raises(SystemExit, match=r"--normal ID=.*: give NAME=RUN with NAME one of the "
                                         r"runs \['LR'\]"):
        report.main()
