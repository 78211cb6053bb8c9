"""deploy/: the systemd units, the environment file and the commands the docs give.

What systemd itself would say of the units is asked of `systemd-analyze verify`; the
rest is what an operator relies on: the services' user and environment file, the
hardening, a warm stop for the workers, one command line for each service in the
units, the README and docs/deployment.md alike, and an environment file that names
every variable the settings read and passes `check --deploy` once its secret is set.
"""

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chatearthnet_site.deployment import (
    DEPLOY,
    ENV_EXAMPLE,
    INSTALL_DIR,
    UNITS,
    checkout_command,
    read_env_file,
    read_unit,
    unit_value,
    unit_values,
    write_env_file,
)
from tests.services import ROOT

ENV_FILE = "/etc/chatearthnet/chatearthnet.env"
SETTINGS_SOURCES = (
    ROOT / "chatearthnet_site" / "settings.py",
    DEPLOY / "gunicorn.conf.py",
)
# Set by the web unit itself, not by the operator.
SET_BY_THE_UNITS = {"PROMETHEUS_MULTIPROC_DIR"}
# The key variables LLM_ENDPOINTS names, read when a job calls its endpoint
# (captions/llm/registry.py).
KEY_VARIABLES = {"OPENAI_API_KEY_FILE"}


def variables_read() -> set[str]:
    """The names the settings (and gunicorn's) read from the environment."""
    pattern = re.compile(r"(?:env_\w+|os\.environ\.get)\(\s*\"([A-Z][A-Z0-9_]*)\"")
    names = set()
    for source in SETTINGS_SOURCES:
        names |= set(pattern.findall(source.read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"} - SET_BY_THE_UNITS


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_runs_from_the_checkout_as_its_user_with_the_environment_file(unit):
    assert set(read_unit(unit)) == {"Unit", "Service", "Install"}
    assert unit_value(unit, "Service", "User") == "chatearthnet"
    assert unit_value(unit, "Service", "Group") == "chatearthnet"
    assert unit_value(unit, "Service", "WorkingDirectory") == INSTALL_DIR
    assert unit_value(unit, "Service", "EnvironmentFile") == ENV_FILE
    assert unit_value(unit, "Service", "Restart") == "on-failure"
    assert unit_value(unit, "Install", "WantedBy") == "multi-user.target"
    assert int(unit_value(unit, "Service", "TimeoutStopSec")) > 0


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_may_write_only_the_state_folder(unit):
    hardening = {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "StateDirectory": "chatearthnet",
    }
    for key, value in hardening.items():
        assert unit_value(unit, "Service", key) == value, key
    var_dir = read_env_file(ENV_EXAMPLE)["VAR_DIR"]
    assert unit_values(unit, "Service", "ReadWritePaths") == [f"-{var_dir}"]
    assert var_dir == "/var/lib/chatearthnet"  # where StateDirectory= puts it


def test_workers_stop_warm_letting_their_tasks_end():
    worker = "chatearthnet-worker@.service"
    # TERM to the main process is Celery's warm shutdown; it stops its own pool.
    assert unit_value(worker, "Service", "KillSignal") == "SIGTERM"
    assert unit_value(worker, "Service", "KillMode") == "mixed"
    assert int(unit_value(worker, "Service", "TimeoutStopSec")) >= 60
    # Instances on one machine have names of their own (their heartbeat rows).
    assert "--hostname=worker1@%h" in checkout_command(worker, instance="1")
    assert "--hostname=worker2@%h" in checkout_command(worker, instance="2")


def test_the_web_unit_gives_gunicorn_a_metrics_folder_emptied_at_each_start():
    web = "chatearthnet-web.service"
    runtime = unit_value(web, "Service", "RuntimeDirectory")
    assert unit_values(web, "Service", "Environment") == [
        f"PROMETHEUS_MULTIPROC_DIR=/run/{runtime}"
    ]
    # gunicorn's graceful stop (30 s) ends before systemd's patience does.
    assert int(unit_value(web, "Service", "TimeoutStopSec")) > 30


def test_beat_runs_without_arguments_that_could_differ_between_machines():
    assert checkout_command("chatearthnet-beat.service") == [
        ".venv/bin/celery", "-A", "chatearthnet_site", "beat"
    ]  # fmt: skip


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_analyze_verify_finds_nothing_wrong(tmp_path):
    # The units as installed, with the checkout's programs where they expect them.
    install = tmp_path / "srv"
    (install / ".venv" / "bin").mkdir(parents=True)
    for program in ("gunicorn", "celery"):
        real = Path(sys.executable).parent / program
        assert real.exists(), f"{real} is missing: the checkout's virtualenv"
        (install / ".venv" / "bin" / program).symlink_to(real)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        text = (DEPLOY / unit).read_text().replace(INSTALL_DIR, str(install))
        (units / unit).write_text(text)
    names = [name.replace("@.", "@1.") for name in UNITS]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=units, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_environment_file_names_every_variable_the_settings_read():
    text = ENV_EXAMPLE.read_text()
    named = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    assert variables_read() - named == set(), (
        "add them to deploy/chatearthnet.env.example"
    )
    unknown = named - variables_read() - KEY_VARIABLES
    assert unknown == set(), "the settings read no such variable"


def test_each_variable_of_the_environment_file_comes_under_a_comment():
    # A block of lines (between blank lines) starts with the comment saying what its
    # variables do.
    for block in ENV_EXAMPLE.read_text().split("\n\n"):
        lines = block.strip().splitlines()
        variables = [line for line in lines if re.match(r"#?[A-Z][A-Z0-9_]*=", line)]
        if variables:
            assert not re.match(r"#?[A-Z][A-Z0-9_]*=", lines[0]), lines[0]
            assert lines[0].startswith("#")


def run_manage(env_file: Path, *arguments: str, home: Path):
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CHATEARTHNET_ENV_FILE": str(env_file),
    }
    return subprocess.run(
        [str(DEPLOY / "manage"), *arguments],
        env=clean, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_environment_file_passes_check_deploy_once_its_secret_is_set(tmp_path):
    values = read_env_file(ENV_EXAMPLE)
    assert values["SECRET_KEY"] == "", "the example must hold no usable secret"
    imagery = tmp_path / "imagery"
    imagery.mkdir()
    values |= {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "VAR_DIR": str(tmp_path / "var"),
        "INGEST_ROOTS": str(imagery),
    }
    env_file = tmp_path / "chatearthnet.env"
    write_env_file(env_file, values)
    result = run_manage(env_file, "check", "--deploy", "--fail-level", "WARNING",
                        home=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_environment_file_as_shipped_refuses_to_start(tmp_path):
    values = read_env_file(ENV_EXAMPLE) | {"VAR_DIR": str(tmp_path / "var")}
    env_file = tmp_path / "chatearthnet.env"
    write_env_file(env_file, values)
    result = run_manage(env_file, "check", home=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_manage_says_which_environment_file_it_cannot_read(tmp_path):
    result = run_manage(tmp_path / "missing.env", "check", home=tmp_path)
    assert result.returncode == 1
    assert f"cannot read {tmp_path / 'missing.env'}" in result.stderr


def readme_production_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Production") :]
    block = section[section.index("```sh") + 5 :]
    block = block[: block.index("```")]
    return [line.split("  #")[0].strip() for line in block.splitlines()]


@pytest.mark.parametrize("unit", UNITS)
def test_the_readme_and_the_deployment_page_give_each_units_command(unit):
    command = shlex.join(checkout_command(unit))
    assert command in readme_production_commands()
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    assert command in deployment
    assert f"deploy/{unit}" in deployment
