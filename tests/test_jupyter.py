"""`make lab`: the token reaches JupyterLab only through the environment, and the course's settings fetch no news."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
NEWS = "@jupyterlab/apputils-extension:notification"


def make_lab(tmp_path: Path, bin_dir: Path, **env: str) -> subprocess.Popen:
    """`make lab` with the programs in ``bin_dir``, on a free port, with Jupyter's files under ``tmp_path``."""
    stamp = tmp_path / "installed-stamp"
    stamp.touch()  # newer than pyproject.toml: make installs nothing
    homes = {name: str(tmp_path / name.lower()) for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                                                             "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                                                             "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
    base = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
    with (tmp_path / "make-lab.log").open("wb") as log:
        return subprocess.Popen(["make", "--no-print-directory", "-C", str(ROOT), "lab", f"BIN={bin_dir}",
                                 f"STAMP={stamp}", "PORT=0"], env={**base, **homes, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_make_lab_token_is_in_no_command_line_and_no_news_is_fetched(tmp_path):
    lab = make_lab(tmp_path, Path(sys.executable).parent)
    try:
        deadline = time.monotonic() + 180
        while not (info := list((tmp_path / "jupyter_runtime_dir").glob("jpserver-*.json"))):
            assert lab.poll() is None and time.monotonic() < deadline, (tmp_path / "make-lab.log").read_text()
            time.sleep(0.5)
        time.sleep(0.5)  # the file is written at once, but give the server a moment to answer
        url = json.loads(info[0].read_text())["url"]
        log = (tmp_path / "make-lab.log").read_text()
        token = re.search(r"/lab\?token=(\S+)", log).group(1)  # the generated token, printed once to open it
        assert log.count(token) == 1 and len(token) >= 32

        assert get(url + "api/status")[0] == 403
        assert get(url + "api/status", token)[0] == 200
        readers = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        assert not [line for line in readers if token in line], "the token is on a command line (ps shows it)"

        status, body = get(f"{url}lab/api/settings/{NEWS}", token)
        assert status == 200
        reply = json.loads(body)  # the schema with the course's overrides as defaults, and no user settings
        defaults = {name: spec["default"] for name, spec in reply["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        assert "fetchNews" not in reply["settings"]
    finally:
        stop(lab)


def test_make_lab_never_prints_a_token_you_set(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    record = tmp_path / "jupyter-saw.txt"
    (bin_dir / "jupyter").write_text(f'#!/bin/sh\n{{ for a in "$@"; do echo "ARG $a"; done; '
                                     f'echo "ENV JUPYTER_TOKEN=$JUPYTER_TOKEN"; }} > "{record}"\n')
    (bin_dir / "jupyter").chmod(0o755)
    lab = make_lab(tmp_path, bin_dir, JUPYTER_TOKEN="my-own-course-token")
    assert lab.wait(timeout=60) == 0
    log = (tmp_path / "make-lab.log").read_text()
    assert "my-own-course-token" not in log and "log in with the JUPYTER_TOKEN you set" in log
    saw = record.read_text().splitlines()
    assert "ENV JUPYTER_TOKEN=my-own-course-token" in saw
    assert not [line for line in saw if line.startswith("ARG") and "token" in line.lower()]
    assert f"ARG --LabApp.app_settings_dir={ROOT}/containers/jupyterlab" in saw
