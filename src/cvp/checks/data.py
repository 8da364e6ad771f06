"""Where the checks' data files live (``include/checks`` of the project).

The rule list and the institutional guide are data the communications office edits, so they live
beside the DAGs in ``include/``, not inside the package. ``CVP_CHECKS_DATA_DIR`` overrides the
location for deployments where the package is installed away from the project tree.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "CVP_CHECKS_DATA_DIR"
INCLUSIVE_RULES_FILE = "lenguaje_incluyente.yml"
GUIDE_FILE = "guia_institucional.yml"


def data_dir() -> Path:
    """The ``include/checks`` folder: env override, then the project holding this package, then CWD."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "include" / "checks"
        if (candidate / INCLUSIVE_RULES_FILE).is_file():
            return candidate
    return Path.cwd() / "include" / "checks"


def data_file(name: str) -> Path:
    path = data_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            "No se encontró %s. Defina %s con la carpeta que contiene los archivos de las "
            "revisiones (include/checks del proyecto)." % (path, DATA_DIR_ENV)
        )
    return path
