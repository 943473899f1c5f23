"""Reading the docs' code blocks and the demo's expected numbers, for the tests that run
what the docs show (the snippet tests follow the text to its page; no test reads a number
out of prose).
"""
import json
import re
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs' / 'en'
#: the demo's numbers and their tolerance: the one source the docs quote and the tests read
DEMO_EXPECTED = ROOT / 'configs' / 'uem' / 'demo' / 'expected_results.json'

_BLOCK = re.compile(r'^ *```(\w+)\n(.*?)^ *```', re.S | re.M)


def pages() -> List[Path]:
    """Every page a user reads: the README, docs/en/, the configs' and docker READMEs."""
    return [ROOT / 'README.md', *sorted(DOCS.rglob('*.md')),
            ROOT / 'configs' / 'uem' / 'README.md', ROOT / 'docker' / 'README.md']


def code_blocks(page: Path, lang: str) -> List[str]:
    """The ```lang blocks of a page, de-indented (blocks inside list items included)."""
    blocks = []
    for match in _BLOCK.finditer(page.read_text()):
        if match.group(1) == lang:
            lines = match.group(2).splitlines()
            indent = min((len(s) - len(s.lstrip()) for s in lines if s.strip()), default=0)
            blocks.append('\n'.join(s[indent:] for s in lines) + '\n')
    return blocks


def snippet(page: Path, heading: str, lang: str = 'python') -> str:
    """The first ```lang block after ``heading`` on ``page``."""
    text = page.read_text()
    assert heading in text, f'{page}: no heading {heading!r}'
    section = Path(page.name)  # for the message only
    for match in _BLOCK.finditer(text, text.index(heading)):
        if match.group(1) == lang:
            lines = match.group(2).splitlines()
            indent = min((len(s) - len(s.lstrip()) for s in lines if s.strip()), default=0)
            return '\n'.join(s[indent:] for s in lines) + '\n'
    raise AssertionError(f'{section}: no {lang} block after {heading!r}')


def demo_expected() -> dict:
    """``configs/uem/demo/expected_results.json``."""
    return json.loads(DEMO_EXPECTED.read_text())
