"""Lab 01 in a real browser: JupyterLab started as `make lab` does, driven through its UI by Chromium (Playwright);
then Lab 06's β knob, moved with the keyboard, must redraw its plot.

Needs Debian's Chromium (/usr/bin/chromium) and Playwright for Python (the `dev` extra); never `playwright install`.
Without them the tests skip, unless CI is set: then they fail. A screenshot of each run lands in test-artifacts/.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "01_setup_and_baseline" / "01_setup_and_baseline.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
WIDGET_MANAGER = "@jupyter-widgets/jupyterlab-manager"  # ipywidgets' JupyterLab front-end extension
WIDGET_CELL = "lab.chat_vs_plain"  # the source text that identifies Lab 01's widget cell
KNOB_LAB = ROOT / "labs" / "06_dpo" / "06_dpo.ipynb"
KNOB_CELL = "lab.dpo_beta_explorer"  # Lab 06's β widget cell
WAIT_S = 900  # generous: a loaded 2-core machine, and a first run that builds the toy model; never a timed assertion
WAIT_MS = WAIT_S * 1000
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"  # also where errors render
FIGURES = ".jp-OutputArea-output[data-mime-type='image/png'] img"
PROMPTS = ".jp-CodeCell .jp-InputPrompt"  # "[ ]:" not run, "[*]:" queued or running, "[7]:" done
RUN = re.compile(r"\[\d+\]:")
RUN_FINISHED = f"""() => {{
    const prompts = [...document.querySelectorAll("{PROMPTS}")].map(p => p.textContent);
    return !prompts.some(p => p.includes("*")) && prompts.some(p => /\\[\\d+\\]/.test(p));
}}"""


class WidgetNotRendered(AssertionError):
    """The widget cell shows a text fallback instead of live controls."""


def ci() -> bool:
    """True on CI (the CI variable set to anything but empty, 0 or false): missing prerequisites fail, not skip."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false"}


@pytest.fixture(scope="module", autouse=True)
def browser_prerequisites() -> None:
    """Skip without Chromium or Playwright on a workstation; fail on CI so the browser test cannot silently vanish."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python (pip install -e '.[dev]')")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if ci():
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(reason)


@dataclass
class Lab:
    """A running JupyterLab: its address, its token and the Lab 01 copy it serves."""

    base_url: str
    token: str
    notebook: str

    @property
    def notebook_url(self) -> str:
        return f"{self.base_url}lab/tree/{self.notebook}?token={self.token}"

    def kernel(self) -> dict | None:
        """The notebook's kernel as the server reports it (/api/sessions), or None before one is started."""
        request = urllib.request.Request(f"{self.base_url}api/sessions",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            sessions = json.load(response)
        return next((s["kernel"] for s in sessions if s["path"] == self.notebook), None)


def knob_notebook(folder: Path) -> Path:
    """Lab 06's β widget cell, exactly as the lab has it, after a cell that sets the margins the lab measures on its
    trained model (made up here: the knob needs no model)."""
    lab = json.loads(KNOB_LAB.read_text(encoding="utf-8"))
    (cell,) = [c for c in lab["cells"] if KNOB_CELL in "".join(c["source"])]
    margins = {"cell_type": "code", "execution_count": None, "id": "margins", "metadata": {}, "outputs": [],
               "source": ["import lab\n", "margins = [-6.0, -2.0, 0.5, 1.5, 3.0, 4.0, 7.0, 12.0]"]}
    path = folder / "knob.ipynb"
    path.write_text(json.dumps(lab | {"cells": [margins, cell]}), encoding="utf-8")
    return path


def start_jupyterlab(tmp: Path, widgets: bool, notebook: str = f"{LAB.parent.name}/{LAB.name}"
                     ) -> tuple[subprocess.Popen, Lab]:
    """`make lab`'s command on a copy of Lab 01 (and the knob notebook), with config, settings, workspaces and
    runtime files under ``tmp``; ``notebook`` is the one the returned Lab opens."""
    notebooks, config, runtime = tmp / "labs", tmp / "jupyter-config", tmp / "jupyter-runtime"
    notebooks.mkdir()
    for folder in (LAB.parent, KNOB_LAB.parent):  # each notebook beside its lab.py, as in the course
        (notebooks / folder.name).mkdir()
        shutil.copy2(folder / "lab.py", notebooks / folder.name)
    shutil.copy2(LAB, notebooks / LAB.parent.name)  # the committed notebook is never opened: outputs stay stripped
    knob_notebook(notebooks / KNOB_LAB.parent.name)
    settings = config / "lab" / "user-settings"
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}), encoding="utf-8")  # no "get Jupyter news?" toast
    env = {**os.environ, "FTLAB_PROFILE": "toy", "HF_HUB_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_DATA_DIR": str(tmp / "jupyter-data"), "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
           "IPYTHONDIR": str(tmp / "ipython")}
    if not widgets:
        # what a user would type; --level=user writes to the temporary JUPYTER_CONFIG_DIR, not to .venv
        subprocess.run([sys.executable, "-m", "jupyterlab.labextensions", "disable", "--level=user", WIDGET_MANAGER],
                       env=env, check=True, capture_output=True)
        page_config = json.loads((config / "labconfig" / "page_config.json").read_text(encoding="utf-8"))
        assert page_config["disabledExtensions"] == {WIDGET_MANAGER: True}
    token = secrets.token_urlsafe(24)
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port=0", f"--IdentityProvider.token={token}", "--no-browser"]  # port 0: a free one
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; JupyterLab refuses that without the flag
    with (tmp / "jupyter.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    deadline = time.monotonic() + WAIT_S
    while True:
        for info_file in runtime.glob(f"jpserver-{server.pid}.json"):
            try:
                info = json.loads(info_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # being written
                continue
            return server, Lab(info["url"], token, notebook)
        if server.poll() is not None or time.monotonic() > deadline:
            stop_jupyterlab(server)
            log_tail = (tmp / "jupyter.log").read_text(encoding="utf-8", errors="replace")[-3000:]
            pytest.fail(f"JupyterLab did not start (exit code {server.returncode}):\n{log_tail}", pytrace=False)
        time.sleep(0.2)


def stop_jupyterlab(server: subprocess.Popen) -> list[str]:
    """Stop the server and its kernels; returns the processes that outlived a clean shutdown (then killed)."""
    try:
        children = psutil.Process(server.pid).children(recursive=True)
        tree = {p: f"{p.pid} {' '.join(p.cmdline())[:150]}" for p in children}
    except psutil.NoSuchProcess:  # it never started
        tree = {}
    server.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down, then exits
    leftovers = []
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        leftovers.append(f"{server.pid} {' '.join(server.args)[:150]}")
        os.killpg(server.pid, signal.SIGKILL)  # start_new_session: its group is its own
        server.wait()
    _, alive = psutil.wait_procs(tree, timeout=30)
    leftovers += [tree[p] for p in alive]
    for process in alive:  # kernels run in sessions of their own (jupyter_client starts them so): kill those groups
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
    _, alive = psutil.wait_procs(alive, timeout=30)
    assert not alive, f"could not kill {[tree[p] for p in alive]}"
    return leftovers


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on a copy of Lab 01 (param False: with ipywidgets' front-end extension disabled)."""
    server, running = start_jupyterlab(tmp_path, widgets=getattr(request, "param", True))
    yield running
    leftovers = stop_jupyterlab(server)
    assert not leftovers, f"processes outlived JupyterLab's shutdown (killed now): {leftovers}"


@pytest.fixture
def knob_lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on the knob notebook (Lab 06's β widget cell)."""
    server, running = start_jupyterlab(tmp_path, widgets=True, notebook=f"{KNOB_LAB.parent.name}/knob.ipynb")
    yield running
    leftovers = stop_jupyterlab(server)
    assert not leftovers, f"processes outlived JupyterLab's shutdown (killed now): {leftovers}"


@pytest.fixture
def page(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A Chromium page with a fresh profile; screenshots itself into test-artifacts/ and leaves no process behind."""
    from playwright.sync_api import sync_playwright

    before = set(psutil.Process().children())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        try:
            yield browser.pages[0]  # a persistent context opens with one page
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            browser.pages[0].screenshot(path=ARTIFACTS / f"browser-{request.node.name}.png")
            drivers = [p for p in psutil.Process().children() if p not in before]  # Playwright's node driver
            spawned = drivers + [c for p in drivers for c in p.children(recursive=True)]  # and Chromium
            browser.close()
    _, alive = psutil.wait_procs(spawned, timeout=30)
    for process in alive:
        process.kill()
    assert not alive, f"browser processes left behind (killed now): {alive}"


def open_notebook(page: Page, lab: Lab) -> None:
    """Open the notebook; its own kernel must start with no kernel-selection dialog (check a)."""
    page.goto(lab.notebook_url)
    dialog = page.locator(".jp-Dialog")
    deadline = time.monotonic() + WAIT_S
    while not ((kernel := lab.kernel()) and kernel["execution_state"] == "idle" and kernel["connections"]):
        assert not dialog.count(), f"JupyterLab asks for a kernel, it did not start one: {dialog.first.inner_text()!r}"
        assert time.monotonic() < deadline, f"no idle kernel for {lab.notebook} after {WAIT_S} s: {kernel}"
        page.wait_for_timeout(500)
    assert kernel["name"] == json.loads(LAB.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["name"]
    assert not dialog.count(), f"unexpected dialog: {dialog.first.inner_text()!r}"


def run_menu(page: Page, item: str) -> None:
    """Click JupyterLab's Run menu, then ``item``: what a student does."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu").get_by_text(item, exact=True).click()  # the label: a shortcut joins the item's name


def wait_until_run_finished(page: Page) -> list[str]:
    """Wait until no cell is queued or running; returns every code cell's prompt."""
    page.wait_for_function(RUN_FINISHED, timeout=WAIT_MS, polling=500)
    return page.locator(PROMPTS).all_text_contents()


def check_no_errors(page: Page) -> None:
    """No cell shows a traceback (JupyterLab renders errors with the stderr MIME type) (check b)."""
    tracebacks = [text for text in page.locator(STDERR).all_text_contents() if "Traceback" in text]
    assert not tracebacks, "a cell failed:\n" + "\n\n".join(tracebacks)


def check_figures(page: Page) -> int:
    """Matplotlib figures render as decoded PNG images (check d); returns how many."""
    images = page.locator(FIGURES)
    assert images.count(), "no PNG figure in any output"
    page.wait_for_function(f"() => [...document.querySelectorAll(\"{FIGURES}\")].every(i => i.complete)",
                           timeout=WAIT_MS)
    widths = images.evaluate_all("images => images.map(i => i.naturalWidth)")
    assert all(widths), f"a figure did not decode: natural widths {widths}"
    return len(widths)


def widget_cell(page: Page) -> Locator:
    """Lab 01's chat-vs-plain widget cell."""
    return page.locator(".jp-CodeCell", has_text=WIDGET_CELL)


def check_widget_responds(page: Page) -> None:
    """The chat_vs_plain widget renders as controls, and picking another question changes its output (check c)."""
    from playwright.sync_api import expect

    cell = widget_cell(page)
    view = cell.locator(".jp-OutputArea-output .widget-vbox")
    fallback = cell.locator(".jp-OutputArea-output[data-mime-type='text/plain']")  # no widget manager: the repr
    view.or_(fallback).first.wait_for(state="attached", timeout=WAIT_MS)
    if not view.count():
        raise WidgetNotRendered(f"the widget did not render; JupyterLab shows {fallback.first.text_content()[:200]!r}")
    said = view.locator(".widget-output")
    expect(said).to_contain_text("the model sees", timeout=WAIT_MS)
    before = said.text_content()
    question = view.locator(".widget-dropdown select")
    other = question.locator("option").nth(1).get_attribute("value")
    assert other and other not in before, f"the second question already shows: {before!r}"
    question.select_option(other)
    expect(said).to_contain_text(other, timeout=WAIT_MS)


def test_lab01_runs_in_jupyterlab(lab: Lab, page: Page) -> None:
    """Run All Cells in the browser: kernel, no errors, every cell run, figures, a widget that answers."""
    open_notebook(page, lab)
    run_menu(page, "Run All Cells")
    prompts = wait_until_run_finished(page)
    check_no_errors(page)
    code_cells = [c for c in json.loads(LAB.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    assert len(prompts) == len(code_cells) and all(map(RUN.fullmatch, prompts)), f"cells not run: {prompts}"
    assert check_figures(page) >= 1
    check_widget_responds(page)
    for _ in range(2):  # twice: cells above the widget get their real height only once they come into view
        widget_cell(page).evaluate("cell => cell.scrollIntoView({block: 'center'})")  # for the screenshot


@pytest.mark.parametrize("lab", [False], indirect=True, ids=["widget-extension-disabled"])
def test_widget_check_fails_without_the_widget_extension(lab: Lab, page: Page) -> None:
    """The widget check can fail: without ipywidgets' front-end extension JupyterLab shows the widget's text repr."""
    open_notebook(page, lab)
    widget_cell(page).locator(".jp-InputPrompt").click()
    run_menu(page, "Run All Above Selected Cell")
    run_menu(page, "Run Selected Cell")
    prompts = wait_until_run_finished(page)
    check_no_errors(page)
    assert RUN.fullmatch(widget_cell(page).locator(".jp-InputPrompt").text_content()), f"widget cell not run: {prompts}"
    with pytest.raises(WidgetNotRendered, match=r"shows .VBox\(children="):
        check_widget_responds(page)


def test_a_method_knob_redraws_its_plot_in_the_browser(knob_lab: Lab, page: Page) -> None:
    """Lab 06's β slider, moved with the keyboard as a student would, answers with a new plot and a new readout."""
    from playwright.sync_api import expect

    open_notebook(page, knob_lab)
    run_menu(page, "Run All Cells")
    wait_until_run_finished(page)
    check_no_errors(page)
    view = page.locator(".jp-CodeCell", has_text=KNOB_CELL).locator(".jp-OutputArea-output .widget-vbox")
    plot = view.locator(".widget-output img")
    expect(plot).to_have_count(1, timeout=WAIT_MS)
    before, readout = plot.get_attribute("src"), view.locator(".widget-readout").text_content()
    handle = view.locator(".noUi-handle")
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
    expect(view.locator(".widget-readout")).not_to_have_text(readout, timeout=WAIT_MS)
    expect(plot).not_to_have_attribute("src", before, timeout=WAIT_MS)
    view.evaluate("box => box.scrollIntoView({block: 'center'})")  # for the screenshot
