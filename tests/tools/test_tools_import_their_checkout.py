"""Several clones may share one environment, whose editable install points at whichever clone
ran ``make`` last: every script in tools/ puts its own checkout first on ``sys.path``, so
``python tools/...`` runs this checkout's ``mmseg_uem`` whatever is installed or on
PYTHONPATH."""
import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_ALL = sorted((ROOT / 'tools').rglob('*.py'))
#: modules of a package under tools/ (the demo's sections) are imported by their script only
PACKAGED = [p for p in _ALL if (p.parent / '__init__.py').is_file()]
TOOLS = [p for p in _ALL if p not in PACKAGED]


def _inserts_checkout_before_package(path: Path) -> bool:
    """True if ``sys.path.insert(0, <dirname chain of __file__ up to ROOT>)`` comes before
    the first import of mmseg_uem (or the script never imports it)."""
    depth = len(path.relative_to(ROOT).parts)  # tools/x.py: 2 dirname calls
    expected = 'osp.abspath(__file__)'
    for _ in range(depth):
        expected = f'osp.dirname({expected})'
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Expr) and ast.unparse(node) == f'sys.path.insert(0, {expected})':
            return True
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
        if any(n.split('.')[0] == 'mmseg_uem' for n in names):
            return False
    return 'mmseg_uem' not in path.read_text()


def test_every_tool_inserts_its_checkout_first():
    assert len(TOOLS) >= 9
    assert [p.relative_to(ROOT).as_posix() for p in TOOLS
            if not _inserts_checkout_before_package(p)] == []


def test_packaged_modules_are_no_scripts():
    """tools/demo/*.py run only through tools/demo.py, which puts the checkout first."""
    assert PACKAGED
    assert [p.relative_to(ROOT).as_posix() for p in PACKAGED
            if "__name__ == '__main__'" in p.read_text()] == []


def test_a_tool_runs_this_checkout_despite_another_on_pythonpath(tmp_path):
    other = tmp_path / 'other_clone' / 'mmseg_uem'
    other.mkdir(parents=True)
    (other / '__init__.py').write_text("raise ImportError('the other clone was imported')\n")
    env = dict(os.environ, PYTHONPATH=str(other.parent))
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'analysis' / 'score_maps.py'),
                           '--help'], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Re-score saved anomaly maps' in proc.stdout
