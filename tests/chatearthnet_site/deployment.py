"""The files of deploy/ read as systemd reads them, and their commands as a test runs
them: from this checkout and its interpreter instead of the installed ones.

The units are the one place the production commands are written; the README, the
docs and tests/chatearthnet_site/test_production_commands.py take them from there.
"""

import re
import shlex
import sys
from pathlib import Path

from tests.services import ROOT

DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "chatearthnet.env.example"
# Where the units expect the checkout (WorkingDirectory) and its virtualenv.
INSTALL_DIR = "/srv/chatearthnet"
UNITS = ("chatearthnet-web.service", "chatearthnet-worker@.service",
         "chatearthnet-beat.service")  # fmt: skip


def read_unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value) in order (keys repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for number, line in enumerate((DEPLOY / name).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, equals, value = line.partition("=")
        assert equals and current is not None, f"{name}:{number}: not a setting: {line}"
        assert not value.endswith("\\"), f"{name}:{number}: continued lines unsupported"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(name: str, section: str, key: str) -> list[str]:
    return [value for k, value in read_unit(name).get(section, []) if k == key]


def unit_value(name: str, section: str, key: str) -> str:
    values = unit_values(name, section, key)
    assert len(values) == 1, f"{name}: [{section}] {key}= is set {len(values)} times"
    return values[0]


def exec_start(name: str, *, instance: str = "1") -> list[str]:
    """The unit's ExecStart as systemd passes it: specifiers replaced (%i by the
    instance, %% by %), no shell."""
    text = unit_value(name, "Service", "ExecStart")
    unknown = set(re.findall(r"%[^i%]", text.replace("%%", "")))
    assert not unknown, f"{name}: specifiers this test does not replace: {unknown}"
    return shlex.split(text.replace("%i", instance).replace("%%", "%"))


def checkout_command(name: str, *, instance: str = "1") -> list[str]:
    """The ExecStart as written from the checkout: `.venv/bin/celery -A ...`."""
    program, *arguments = exec_start(name, instance=instance)
    prefix = f"{INSTALL_DIR}/"
    assert program.startswith(f"{prefix}.venv/bin/"), program
    return [program.removeprefix(prefix), *arguments]


def local_command(name: str, *, instance: str = "1") -> list[str]:
    """The ExecStart run by this interpreter (`python -m gunicorn ...`), from ROOT."""
    program, *arguments = checkout_command(name, instance=instance)
    python = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
    return [*python, "-m", Path(program).name, *arguments]


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines as systemd's EnvironmentFile reads them (comments, blank
    lines, one level of quotes)."""
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, equals, value = line.partition("=")
        assert equals and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), (
            f"{path.name}:{number}: not NAME=value: {line}"
        )
        values[name] = shlex.split(value)[0] if value else ""
    return values


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{name}={shlex.quote(v)}\n" for name, v in values.items()))
