"""Run a user's script (Numerai's code, unchanged) in its own Python process against a sandbox.

The one thing set from outside is numerapi's API URL, ``numerapi.base_api.API_TOURNAMENT_URL``
(numerapi reads no variable for it): the runner sets it, then runs the script as ``__main__`` with
the given arguments, as ``python script.py ARGS`` would. The keys reach it as numerapi reads them,
from NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from numeraud.sandbox import Sandbox

RUNNER = (
    "import runpy, sys, numerapi.base_api\n"
    "numerapi.base_api.API_TOURNAMENT_URL = sys.argv[1]\n"
    "sys.argv = sys.argv[2:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def run_user_script(
    sandbox: Sandbox, script: Path, workdir: Path, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``script ARGS`` in ``workdir`` with the sandbox account's keys (and ``env``) set."""
    options = sandbox.core.options
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NUMERAI_")},
        "NUMERAI_PUBLIC_ID": options.public_id,
        "NUMERAI_SECRET_KEY": options.secret_key,
        "NUMERAI_MODEL_NAME": "sandbox_model_1",
        "NO_PROXY": "127.0.0.1,localhost",
        **env,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, sandbox.url, str(script), *args],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
