"""A PEP 517 build backend in the standard library alone.

The SDK has no dependency, and neither has its build: ``pip install
./sdk/python`` works on a machine with no package index and no setuptools
or wheel, because this module writes the wheel itself (a zip file with the
package, its METADATA, WHEEL and RECORD). Name and version come from
pyproject.toml's [project] table.
"""
from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import re
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "mesh"


def _project() -> dict[str, str]:
    """The [project] keys the wheel needs, read from pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[project]", 1)[1].split("\n[", 1)[0]
    out = {}
    for key in ("name", "version", "description", "requires-python"):
        m = re.search(rf'^{key}\s*=\s*"([^"]*)"', table, re.M)
        if not m:
            raise ValueError(f"pyproject.toml: [project] {key} is missing")
        out[key] = m.group(1)
    return out


def _dist_info(p: dict[str, str]) -> str:
    return f"{p['name']}-{p['version']}.dist-info"


def _metadata(p: dict[str, str]) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return (f"Metadata-Version: 2.1\nName: {p['name']}\nVersion: {p['version']}\n"
            f"Summary: {p['description']}\nRequires-Python: {p['requires-python']}\n"
            f"License: Apache-2.0\nDescription-Content-Type: text/markdown\n\n{readme}")


WHEEL = "Wheel-Version: 1.0\nGenerator: mesh-sdk-backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _files() -> list[pathlib.Path]:
    """The package's files: sources and data, no caches."""
    return sorted(f for f in (ROOT / PACKAGE).rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc")


def _write_wheel(directory: str, extra: dict[str, bytes]) -> str:
    p = _project()
    info = _dist_info(p)
    name = f"{p['name']}-{p['version']}-py3-none-any.whl"
    entries: dict[str, bytes] = dict(extra)
    entries[f"{info}/METADATA"] = _metadata(p).encode()
    entries[f"{info}/WHEEL"] = WHEEL.encode()
    entries[f"{info}/top_level.txt"] = f"{PACKAGE}\n".encode()
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries.items():
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """The wheel of the package's files."""
    files = {f.relative_to(ROOT).as_posix(): f.read_bytes() for f in _files()}
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """An editable wheel: a .pth file that puts this source tree on sys.path."""
    return _write_wheel(wheel_directory, {"ppcmesh-editable.pth": f"{ROOT}\n".encode()})
