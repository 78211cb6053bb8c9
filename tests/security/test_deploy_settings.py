"""Hole 3 of issue 9: production defaults.

The README's production section is what operators copy: its `export` lines, run by
a real shell, must give settings that `manage.py check --deploy --fail-level WARNING`
passes. And a server started with DEBUG unset (a forgotten variable) must not show
Django's technical pages.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.services import collected_static_root

README = ROOT / "README.md"


def production_exports() -> list[str]:
    """The `export` lines of the README's production section, as written there."""
    text = README.read_text()
    section = text[text.index("## Production") :]
    block = section[
        section.index("```sh") : section.index("```", section.index("```sh") + 5)
    ]
    return [line for line in block.splitlines() if line.startswith("export ")]


def run_in_shell(commands: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path),
    }
    return subprocess.run(
        ["bash", "-euc", "\n".join(commands)],
        cwd=ROOT, env=clean, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_the_readmes_production_settings_pass_check_deploy(tmp_path):
    exports = production_exports()
    assert any(line.startswith("export DEBUG=0") for line in exports)
    result = run_in_shell(
        [*exports, f"{sys.executable} manage.py check --deploy --fail-level WARNING"],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_the_settings_a_forgotten_variable_gives(tmp_path):
    # DEBUG off with only the two settings it cannot start without: every warning
    # `check --deploy` has about HTTPS is there, so the README's lines are needed.
    result = run_in_shell(
        [
            "export SECRET_KEY=" + "k3y-" * 15,
            "export INGEST_ROOTS=/srv/imagery",
            f"{sys.executable} manage.py check --deploy --fail-level WARNING",
        ],
        tmp_path,
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008"):
        assert warning in result.stderr + result.stdout


def test_without_debug_set_unknown_urls_get_a_plain_404_page(tmp_path):
    # The test server runs with the test settings; the question is what Django does
    # with DEBUG unset, so ask Django itself in a process with the default settings.
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "from django.test import Client; "
        "print(settings.DEBUG); "
        "response = Client().get('/no/such/page/'); "
        "print(response.status_code); print(response.content.decode())"
    )
    result = run_in_shell(
        [
            "export SECRET_KEY=" + "k3y-" * 15,
            "export INGEST_ROOTS=/srv/imagery ALLOWED_HOSTS=testserver",
            f"export STATIC_ROOT={collected_static_root()}",  # the page's stylesheet
            "export DJANGO_SETTINGS_MODULE=chatearthnet_site.settings",
            f"{sys.executable} -c {script!r}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    debug, status, page = result.stdout.split("\n", 2)
    assert (debug, status) == ("False", "404")
    assert not re.search(r"URLconf|urlpatterns|Traceback|SECRET_KEY|DATABASES", page)
