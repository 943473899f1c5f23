"""The docs stay true: their numbers come from the data the tests read, their links resolve,
and every ``python tools/...`` / ``bash tools/...`` command they show names a script, config
files and options that exist.

The commands themselves are run by the tool tests (``tests/tools/``, ``tests/apis/``,
``tests/deployment/``, ...); here each command of every page is checked against the tool's own
``--help``, so a renamed option or a moved config breaks a test, not a user.
"""
import importlib
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
from doc_pages import DOCS, ROOT, code_blocks, demo_expected, pages

README = ROOT / 'README.md'
DEMO_PAGE = DOCS / 'advanced_guides' / 'demo.md'
#: the shell launchers and the python tool whose options they pass on
LAUNCHED = {'tools/dist_train.sh': 'tools/train.py', 'tools/dist_test.sh': 'tools/test.py',
            'tools/train_two_stage.sh': 'tools/train.py'}
_FENCE = re.compile(r'^ *```.*?^ *```', re.S | re.M)


def _row(text: str, label: str) -> List[str]:
    """The cells after ``label`` of the table row that starts with it."""
    match = re.search(r'^\| ' + re.escape(label) + r' \|(.*)\|$', text, re.M)
    assert match, f'no table row {label!r}'
    return [cell.strip(' *') for cell in match.group(1).split('|')]


def _fmt(value: float) -> str:
    return f'{value:.2f}'


# ------------------------------------------------------------------ the demo's numbers
@pytest.mark.parametrize('page', [README, DEMO_PAGE], ids=lambda p: p.name)
def test_docs_quote_the_demo_core_numbers(page):
    text = page.read_text()
    for score in demo_expected()['core']['scores'].values():
        assert _row(text, score['label']) == [_fmt(score[m]) for m in ('AP', 'FPR95', 'AUROC')]
    assert 'configs/uem/demo/expected_results.json' in text


def test_demo_page_quotes_every_section_and_the_tolerance():
    text = DEMO_PAGE.read_text()
    expected = demo_expected()
    core = expected['core']
    assert (f'reproducible to within {core["tolerance"]} points') in text
    assert (f'Inlier mIoU on the miniature Cityscapes val split: {_fmt(core["mIoU"]["stage1"])} '
            f'after stage 1, {_fmt(core["mIoU"]["stage2"])} after stage 2') in ' '.join(
                text.split())
    rows = re.findall(r'^\| (D network alone|UEM \(D-D\)|RbA|PEBAL) \|(.*)\|$', text, re.M)
    assert len(rows) == len(expected['table4']['rows'])
    for (method, cells), row in zip(rows, expected['table4']['rows']):
        cells = [c.strip(' *') for c in cells.split('|')]
        assert [method, *cells] == [row['method'], row['trains'], row['score'],
                                   *(_fmt(row[k]) for k in ('AP', 'FPR95', 'AUROC',
                                                            'mIoU_before', 'mIoU_after'))]
    for row in expected['stock']['rows']:
        assert _row(text, row['score']) == [_fmt(row[m]) for m in ('AP', 'FPR95', 'AUROC')]
    miou = expected['stock']['mIoU']
    assert (f'{_fmt(miou["stock"])} for the stock model, {_fmt(miou["with_uem"])} with the '
            'UEM') in ' '.join(text.split())
    dinov3 = expected['dinov3']
    section = text[text.index('(section `dinov3`)'):]
    for score in dinov3['scores'].values():
        assert _row(section, score['label']) == [_fmt(score[m]) for m in ('AP', 'FPR95', 'AUROC')]
    assert (f'{_fmt(dinov3["mIoU"]["stage1"])} after stage 1, {_fmt(dinov3["mIoU"]["stage2"])} '
            'after stage 2') in ' '.join(section.split())
    evaluation = expected['evaluation']
    section = text[text.index('(section `evaluation`)'):]
    header = _row(section, 'score (miniature RoadAnomaly set)')
    for score in evaluation['scores'].values():
        assert header == [k for k in score if k != 'label']
        assert _row(section, score['label']) == [
            'nan' if score[m] is None else _fmt(score[m]) for m in header]


def test_demo_expected_numbers_name_existing_configs():
    for name, section in demo_expected().items():
        if isinstance(section, dict):
            for config in section['configs']:
                assert (ROOT / config).is_file(), (name, config)


# ------------------------------------------------------------------ pages and links
def test_readme_is_a_front_page():
    assert len(README.read_text().splitlines()) <= 200
    text = README.read_text()
    assert '```bash\nmake test' in text and 'make demo' in text
    for page in sorted(DOCS.rglob('*.md')):  # every page is reachable from the README
        assert str(page.relative_to(ROOT)) in text, page


def test_package_map_names_every_package():
    """get_started's package map lists each package folder (models/ by its sub-packages)."""
    text = (DOCS / 'get_started.md').read_text()
    package_map = code_blocks(DOCS / 'get_started.md', 'text')
    assert len(package_map) == 1 and '## Package map' in text
    root = ROOT / 'mmseg_uem'
    folders = [p.parent.relative_to(root) for p in root.glob('*/__init__.py')]
    folders = [f for f in folders if f.name != 'models'] + [
        p.parent.relative_to(root) for p in (root / 'models').glob('*/__init__.py')]
    for folder in folders:
        assert re.search(r'^  ' + re.escape(f'{folder.as_posix()}/'), package_map[0], re.M), \
            f'the package map in get_started.md does not list mmseg_uem/{folder}/'


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace('`', '')
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def _anchors(page: Path) -> Set[str]:
    text = _FENCE.sub('', page.read_text())
    return {_slug(h) for h in re.findall(r'^#+ (.*)$', text, re.M)}


@pytest.mark.parametrize('page', pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page):
    text = _FENCE.sub('', page.read_text())
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'[a-z]+://', target):
            continue
        path, _, anchor = target.partition('#')
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f'{page.name}: broken link {target}'
        if anchor and file.suffix == '.md':
            assert anchor in _anchors(file), f'{page.name}: no anchor #{anchor} in {file.name}'


def _spans(page: Path) -> List[str]:
    """The inline code spans of a page's prose (code blocks left out)."""
    return [' '.join(span.split()) for span in
            re.findall(r'`([^`]+)`', _FENCE.sub('', page.read_text()))]


@pytest.mark.parametrize('page', pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_exist(page):
    """Every repository path the prose names (`tools/infer.py`, `configs/uem/...`, ...)."""
    for span in _spans(page):
        for token in re.findall(r'(?<![\w/.])((?:mmseg_uem|tools|tests|configs|docker|docs)'
                                r'/[\w/.{},-]*[\w/}])', span):
            if '<' in span or '*' in span or token.endswith('/...'):
                continue
            for path in _expand_braces(token):
                path = path.split('::')[0]
                assert (ROOT / path).exists(), f'{page.name}: `{span}` names {path}'


@pytest.mark.parametrize('page', pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_named_python_objects_exist(page):
    """Every dotted name in ``mmseg_uem`` the prose names imports."""
    for span in _spans(page):
        for name in re.findall(r'\bmmseg_uem(?:\.\w+)+', span):
            parts = name.split('.')
            for cut in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module('.'.join(parts[:cut]))
                except ModuleNotFoundError:
                    continue
                for attr in parts[cut:]:
                    assert hasattr(obj, attr), f'{page.name}: `{span}` names {name}'
                    obj = getattr(obj, attr)
                break


# ------------------------------------------------------------------ commands
def _commands() -> List[Tuple[str, str, str]]:
    """(page, script, arguments) of every tool command the pages show, with the shell's
    line continuations joined and ``for`` loop variables expanded."""
    found = []
    for page in pages():
        name = str(page.relative_to(ROOT))
        blocks = code_blocks(page, 'bash') + code_blocks(page, 'shell')
        inline = re.findall(r'`((?:python|bash) tools/\w[^`]*)`', _FENCE.sub('', page.read_text()))
        for block in blocks + [' '.join(span.split()) for span in inline]:
            block = block.replace('\\\n', ' ')
            loops: Dict[str, List[str]] = {
                var: values.split() for var, values in
                re.findall(r'for (\w+) in ([^;]+); do', block)}
            for line in block.splitlines():
                line = line.split(' # ')[0]
                for script, args in re.findall(r'(?:python|bash) (tools/[\w/.-]+)([^;&)]*)', line):
                    used = [v for v in loops if re.search(r'\$\{?' + v + r'\b', args)]
                    for values in itertools.product(*(loops[v] for v in used)):
                        expanded = args
                        for var, value in zip(used, values):
                            expanded = re.sub(r'\$\{?' + var + r'\}?', value, expanded)
                        found.append((name, script, expanded))
    return found


def _expand_braces(token: str) -> List[str]:
    match = re.search(r'\{([^{}]*)\}', token)
    if not match:
        return [token]
    return [expanded for option in match.group(1).split(',') for expanded in
            _expand_braces(token[:match.start()] + option + token[match.end():])]


def test_docs_show_tool_commands():
    scripts = {script for _, script, _ in _commands()}
    for tool in ('tools/train.py', 'tools/test.py', 'tools/infer.py', 'tools/demo.py',
                 'tools/train_two_stage.sh', 'tools/deployment/pytorch2onnx.py',
                 'tools/model_converters/uem_official2mmseg.py'):
        assert tool in scripts, tool


def test_commands_name_existing_scripts_and_configs():
    for page, script, args in _commands():
        assert (ROOT / script).is_file(), f'{page}: {script} does not exist'
        for token in re.findall(r'configs/[\w/{},.-]+\.py', args):
            for path in _expand_braces(token):
                assert (ROOT / path).is_file(), f'{page}: {script} {path} does not exist'


_HELP = """
import contextlib, io, json, os, runpy, sys
out = {}
for tool in sys.argv[1:]:
    sys.argv = [tool, '--help']
    sys.path.insert(0, os.path.dirname(os.path.abspath(tool)))  # as `python tool` does
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(tool, run_name='__main__')
        except SystemExit:
            pass
    out[tool] = buf.getvalue()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_commands_use_options_the_tools_have():
    used: Dict[str, Set[Tuple[str, str]]] = {}
    for page, script, args in _commands():
        options = set(re.findall(r'(?<![\w-])(--[a-z][\w-]*)', args))
        if script in LAUNCHED:
            launcher = (ROOT / script).read_text()
            options = {o for o in options if o not in launcher}  # the launcher's own
            script = LAUNCHED[script]
        if script.endswith('.py'):
            used.setdefault(script, set()).update((page, o) for o in options)
    proc = subprocess.run([sys.executable, '-c', _HELP, *sorted(used)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    helps = json.loads(proc.stdout.splitlines()[-1])
    for script, options in used.items():
        assert helps[script].startswith('usage:'), (script, helps[script][:500])
        for page, option in sorted(options):
            assert re.search(re.escape(option) + r'\b', helps[script]), \
                f'{page}: {script} has no option {option}'
