"""Install the third-party dependencies of the given packages (read from their pyproject.toml) into the venv.

Used by the Dockerfiles before the code is copied in, so dependency layers are cached across code changes.
When /wheels holds wheels (see `make wheels`), install from there only; otherwise from PyPI.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

OWN = {"loop-shared", "loop-stub", "loop-detector", "loop-trainer", "loop-reference-trainer", "loop-converter",
       "loop-testkit"}
WHEELS = Path("/wheels")
CONSTRAINTS = Path(__file__).with_name("constraints.txt")


def dependencies(project_dirs: list[str]) -> list[str]:
    found: list[str] = []
    for directory in project_dirs:
        data = tomllib.loads((Path(directory) / "pyproject.toml").read_text())
        for requirement in data["project"].get("dependencies", []):
            name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
            if name not in OWN and requirement not in found:
                found.append(requirement)
    return found


def main() -> int:
    requirements = [*dependencies(sys.argv[1:]), "setuptools>=68", "wheel"]  # the build tools go again later
    source = ["--no-index", "--find-links", str(WHEELS)] if any(WHEELS.glob("*.whl")) else []
    constraints = ["--constraint", str(CONSTRAINTS)] if CONSTRAINTS.exists() else []
    command = [sys.executable, "-m", "pip", "install", "--no-cache-dir", *source, *constraints, *requirements]
    print("installing:", " ".join(requirements), "(from /wheels)" if source else "(from PyPI)", flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
