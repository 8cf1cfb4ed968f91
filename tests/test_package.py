"""The library stands on its own: no Dagster anywhere in observatory/, and every public name resolves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import observatory

LIBRARY = Path(observatory.__file__).resolve().parent


def test_no_dagster_import_in_the_library():
    offenders = [
        str(path.relative_to(LIBRARY))
        for path in LIBRARY.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+dagster", path.read_text(), flags=re.M)
    ]
    assert offenders == []
    # Importing every public name pulls in no Dagster module either.
    code = ("import sys, observatory\n"
            "[getattr(observatory, n) for n in observatory.__all__]\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves():
    for name in observatory.__all__:
        assert getattr(observatory, name) is not None, name
