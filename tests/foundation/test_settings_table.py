"""Every TONEARM_* variable is a Settings field, and the documented table is the generated one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tonearm.settings import ENV_PREFIX, TABLE_BEGIN, TABLE_END, Settings, markdown_table

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


@pytest.mark.parametrize("doc", ["README.md", "docs/DEPLOY.md"])
def test_documented_table_is_the_generated_one(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert TABLE_BEGIN in text and TABLE_END in text, f"{doc}: the table markers are missing"
    table = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0].strip("\n") + "\n"
    assert table == markdown_table(), (
        f"{doc}: the settings table drifted from Settings; "
        "refresh it: python -m tonearm.settings --write README.md docs/DEPLOY.md"
    )


def test_table_lists_every_field_with_a_description() -> None:
    rows = markdown_table().splitlines()[2:]
    assert {r.split("`")[1] for r in rows} == FIELDS
    undescribed = [n for n, f in Settings.model_fields.items() if not f.description]
    assert undescribed == []


# a variable name in quotes: what os.environ[...], os.environ.get(...), os.getenv(...) or a
# helper that wraps them is given (names in prose are in backticks, not quotes)
_READ = re.compile(r"""["'](TONEARM_[A-Z0-9_]+)["']""")


def test_no_variable_is_read_outside_settings() -> None:
    """Every ``TONEARM_*`` variable reaches the code through ``Settings``: no module reads
    one from the environment itself (names in prose are in backticks, not quotes)."""
    read: dict[str, list[str]] = {}
    for path in sorted((ROOT / "src" / "tonearm").rglob("*.py")):
        if path.name == "settings.py" and path.parent.name == "tonearm":
            continue
        for name in _READ.findall(path.read_text(encoding="utf-8")):
            read.setdefault(name, []).append(str(path.relative_to(ROOT)))
    unknown = {name: where for name, where in read.items() if name not in FIELDS}
    assert unknown == {}, f"TONEARM_* variables that are not settings: {unknown}"
    assert read == {}, f"TONEARM_* variables read outside Settings: {read}"


def test_the_scan_catches_an_environment_read() -> None:
    """The pattern sees the usual ways of reading a variable."""
    src = (
        'os.environ.get("TONEARM_A")\n'
        "os.environ['TONEARM_B_2']\n"
        'os.getenv("TONEARM_C")\n'
        '_env_float("TONEARM_D", 1.0)\n'
    )
    assert _READ.findall(src) == ["TONEARM_A", "TONEARM_B_2", "TONEARM_C", "TONEARM_D"]
