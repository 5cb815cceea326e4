"""A PEP 517 build backend in the standard library alone, so that `pip install ./clients/python`
needs nothing from the network to build, and writes nothing into this directory (no build/, no
*.egg-info): it zips psimbols/ and its metadata straight into a wheel. It reads what it needs
from pyproject.toml's [project] table; the version comes from psimbols/__init__.py alone."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile
from typing import Dict, List, Optional, Tuple

import tomllib

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'psimbols'


def _version() -> str:
    with open(os.path.join(HERE, PACKAGE, '__init__.py'), encoding='utf-8') as f:
        found = re.search(r"^__version__ = '([^']+)'$", f.read(), re.M)
    if not found:
        raise RuntimeError('psimbols/__init__.py has no __version__')
    return found.group(1)


def _project() -> Dict[str, object]:
    with open(os.path.join(HERE, 'pyproject.toml'), 'rb') as f:
        return dict(tomllib.load(f)['project'])


def _metadata() -> str:
    p = _project()
    lines = ['Metadata-Version: 2.1', f'Name: {p["name"]}', f'Version: {_version()}', f'Summary: {p["description"]}', f'Requires-Python: {p["requires-python"]}', 'License: MIT', 'License-File: LICENSE']
    deps = p.get('dependencies', [])
    lines += [f'Requires-Dist: {d}' for d in (deps if isinstance(deps, list) else [])]
    with open(os.path.join(HERE, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    return '\n'.join(lines + ['Description-Content-Type: text/markdown', '', readme])


def _files() -> List[Tuple[str, bytes]]:
    out: List[Tuple[str, bytes]] = []
    for name in sorted(os.listdir(os.path.join(HERE, PACKAGE))):
        if name.endswith('.py') or name == 'py.typed':
            with open(os.path.join(HERE, PACKAGE, name), 'rb') as f:
                out.append((f'{PACKAGE}/{name}', f.read()))
    return out


def _record_hash(data: bytes) -> str:
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, object]] = None, metadata_directory: Optional[str] = None) -> str:
    version = _version()
    dist_info = f'{PACKAGE}-{version}.dist-info'
    with open(os.path.join(HERE, 'LICENSE'), 'rb') as f:
        license_text = f.read()
    entries = _files() + [
        (f'{dist_info}/METADATA', _metadata().encode('utf-8')),
        (f'{dist_info}/WHEEL', b'Wheel-Version: 1.0\nGenerator: psimbols _build/backend.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n'),
        (f'{dist_info}/licenses/LICENSE', license_text),
        (f'{dist_info}/top_level.txt', f'{PACKAGE}\n'.encode()),
    ]
    record = ''.join(f'{name},{_record_hash(data)},{len(data)}\n' for name, data in entries) + f'{dist_info}/RECORD,,\n'
    name = f'{PACKAGE}-{version}-py3-none-any.whl'
    with zipfile.ZipFile(os.path.join(wheel_directory, name), 'w', zipfile.ZIP_DEFLATED) as z:
        for path, data in entries + [(f'{dist_info}/RECORD', record.encode())]:
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, data, zipfile.ZIP_DEFLATED)
    return name


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, object]] = None) -> List[str]:
    return []
