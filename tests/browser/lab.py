"""Real-browser test harness: JupyterLab in a subprocess, driven by headless Chromium.

The fixtures in ``conftest.py`` beside this file use these helpers; tests import them with
``from lab import ...`` (pytest puts this folder on ``sys.path``).

Reading results back from the kernel
------------------------------------
Two ways, both supported:

* :func:`run_in_kernel` / :func:`kernel_eval` execute code in the notebook's own kernel through
  ``window.jupyterapp`` (the kernel connection of the open notebook), without adding a cell.
  Use them to read widget or Python state after the test has clicked or typed something.
* A notebook may also write files: its kernel runs with the notebook's folder,
  ``lab_server.root_dir``, as working directory, so a test reads ``lab_server.root_dir / name``.

Every wait here is a wait-for with a generous limit (CI has 2 slow cores); none is a fixed sleep.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import nbformat
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = os.environ.get("SVETLANA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
T = TypeVar("T")

# Lab settings written before the server starts: no news toast over screenshots, every cell kept
# in the DOM (windowing would detach off-screen outputs and widgets).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


class NotebookError(AssertionError):
    """A notebook cell raised, or the expected marker never appeared."""


# --------------------------------------------------------------------------- availability
def lab_unavailable_reason() -> str | None:
    """Return why JupyterLab cannot be started, or None when it can."""
    for module in ("jupyterlab", "ipykernel"):
        try:
            __import__(module)
        except ImportError as exc:
            return f"{module} is not installed ({exc}); run `make test`"
    return None


def browser_unavailable_reason() -> str | None:
    """Return why the real-browser tests cannot run, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed ({exc}); run `make test`"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"no Chromium at {CHROMIUM}: `apt-get install chromium` as root (`make test` "
            "does it), or set SVETLANA_CHROMIUM to a Chromium binary"
        )
    return lab_unavailable_reason()


def wait_until(fn: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition") -> T:
    """Call ``fn`` until it returns a truthy value and return that value.

    Parameters
    ----------
    fn : callable
        Polled without arguments.
    timeout : float
        Seconds before giving up with ``TimeoutError``.
    interval : float
        Seconds between two calls.
    message : str
        What is awaited, for the error message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message} (last value {value!r})")
        time.sleep(interval)


# --------------------------------------------------------------------------- the server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab server (see :func:`start_lab_server`).

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``.
    token : str
        The server's random token.
    root_dir : pathlib.Path
        The folder the server shows; notebooks are copied here and their kernels run here.
    log_path : pathlib.Path
        The server's stdout and stderr (kernel tracebacks land here too).
    process : subprocess.Popen
        The server process, leader of its own process group.
    """

    url: str
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen

    def lab_url(self, path: str = "", *, workspace: str | None = None) -> str:
        """Return the address of ``/lab/<path>`` (in ``workspace``, if given) with the token."""
        prefix = f"/lab/workspaces/{workspace}" if workspace else "/lab"
        sep = "/" if path else ""
        return f"{self.url}{prefix}{sep}{path}?token={self.token}"

    def api(self, method: str, path: str, *, timeout: float = 10.0) -> Any:
        """Call the REST API (``path`` like ``/api/kernels``); return the decoded JSON or None."""
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every session and kernel, so that tests do not share CPU with old kernels."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
        except (OSError, urllib.error.URLError):
            pass  # server already gone

    def log_tail(self, n_chars: int = 4000) -> str:
        """Return the end of the server log."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """Shut kernels down, then SIGTERM the server's process group (SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.shutdown_kernels()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def _prepare_dirs(base: Path) -> dict[str, str]:
    """Create the temp Jupyter folders, settings and kernelspec; return the environment."""
    dirs = {name: base / name for name in ("config", "data", "runtime", "ipython", "root")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    settings_dir = dirs["config"] / "lab" / "user-settings"
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    # The kernel is the Python running pytest (the venv's), whatever else is installed.
    spec_dir = dirs["data"] / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (tests)",
                "language": "python",
            }
        )
    )
    env = dict(os.environ)
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["config"] / "lab" / "workspaces"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    return env


def start_lab_server(base_dir: Path, *, timeout: float = 180.0) -> LabServer:
    """Start JupyterLab on a free port of 127.0.0.1, isolated in ``base_dir``, and wait for it.

    Parameters
    ----------
    base_dir : pathlib.Path
        Empty folder for Jupyter's config, data, runtime, IPython folders and the ``root`` folder.
    timeout : float
        Seconds to wait until ``/api/status`` answers.

    Returns
    -------
    LabServer
        Stop it with :meth:`LabServer.stop`.
    """
    env = _prepare_dirs(base_dir)
    root = base_dir / "root"
    for attempt in range(3):  # a free port can be taken between probe and bind: retry
        port, token = _free_port(), secrets.token_hex(16)
        log_path = base_dir / f"jupyterlab-{attempt}.log"
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = LabServer(f"http://127.0.0.1:{port}", token, root, log_path, proc)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                server.api("GET", "/api/status", timeout=5)
                return server
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        server.stop()
        if "already in use" not in server.log_tail():
            break
    raise RuntimeError(
        f"JupyterLab did not start within {timeout:.0f} s (exit code "
        f"{proc.returncode}); log {log_path}:\n{server.log_tail()}"
    )


# --------------------------------------------------------------------------- the browser
def launch_browser(playwright: Any, user_data_dir: Path) -> Any:
    """Launch Debian's Chromium headless with a fresh profile; return the BrowserContext."""
    context = playwright.chromium.launch_persistent_context(
        user_data_dir=str(user_data_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT
    )
    context.set_default_timeout(60_000)
    context.set_default_navigation_timeout(120_000)
    return context


def save_screenshot(page: Any, name: str) -> Path:
    """Save a PNG of the page as ``test-artifacts/<name>.png`` (repo root); return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")
    page.screenshot(path=str(path))
    return path


# JS: the NotebookPanel open at `path` (or the current widget when path is null).
_FIND_NB = """(path) => {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    if (path === null) return app.shell.currentWidget;
    for (const w of app.shell.widgets('main')) {
        if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
    }
    return null;
}"""

_KERNEL_IDLE = f"""(path) => {{
    const nb = ({_FIND_NB})(path);
    const kernel = nb && nb.sessionContext && nb.sessionContext.session
        && nb.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && nb.content.widgets.length > 0;
}}"""

_MARKER_OR_ERROR = f"""([path, marker]) => {{
    const nb = ({_FIND_NB})(path);
    if (!nb) return null;
    for (const el of nb.node.querySelectorAll('.jp-OutputArea-output')) {{
        if (el.textContent.includes(marker)) return {{ok: true}};
    }}
    const cells = nb.content.model.cells;
    for (let i = 0; i < cells.length; i++) {{
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        for (let j = 0; j < cell.outputs.length; j++) {{
            const out = cell.outputs.get(j).toJSON();
            if (out.output_type === 'error') return {{ok: false, cell: i, ename: out.ename,
                evalue: out.evalue, traceback: (out.traceback || []).join('\\n')}};
        }}
    }}
    return null;
}}"""

_EXECUTE = f"""async ([path, code, timeoutMs]) => {{
    const nb = ({_FIND_NB})(path);
    const kernel = nb && nb.sessionContext.session && nb.sessionContext.session.kernel;
    if (!kernel) return {{status: 'no-kernel'}};
    const future = kernel.requestExecute({{code, store_history: false, stop_on_error: true}});
    let stdout = '', stderr = '', error = null;
    future.onIOPub = (msg) => {{
        const t = msg.header.msg_type;
        if (t === 'stream') {{
            if (msg.content.name === 'stdout') stdout += msg.content.text;
            else stderr += msg.content.text;
        }} else if (t === 'error') {{
            error = msg.content.ename + ': ' + msg.content.evalue + '\\n'
                + msg.content.traceback.join('\\n');
        }}
    }};
    const timer = new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs));
    const reply = await Promise.race([future.done, timer]);
    if (reply === null) return {{status: 'timeout', stdout, stderr}};
    return {{status: reply.content.status, stdout, stderr, error}};
}}"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _copy_into_root(lab_server: LabServer, src: Path) -> Path:
    dst = lab_server.root_dir / src.name
    if src.resolve() == dst.resolve():
        return dst
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)
    return dst


def _with_kernelspec(path: Path) -> None:
    """Give the notebook the ``python3`` kernelspec, so Lab starts the kernel without a dialog."""
    nb = json.loads(path.read_text())
    meta = nb.setdefault("metadata", {})
    if meta.get("kernelspec", {}).get("name") != "python3":
        meta["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path.write_text(json.dumps(nb, indent=1))


def open_notebook(
    page: Any,
    lab_server: LabServer,
    notebook_path: str | Path,
    *,
    extra_files: Iterable[str | Path] = (),
    timeout: float = 180.0,
) -> str:
    """Copy a notebook (and ``extra_files``) into the server root, open it, wait for an idle kernel.

    Each call opens a new, empty Lab workspace, so notebooks of earlier tests do not reopen.

    Returns
    -------
    str
        The notebook's path relative to the server root (pass it as ``notebook=`` elsewhere).
    """
    for extra in extra_files:
        _copy_into_root(lab_server, Path(extra))
    dst = _copy_into_root(lab_server, Path(notebook_path))
    _with_kernelspec(dst)
    name = dst.name
    page.goto(
        lab_server.lab_url(f"tree/{name}", workspace="t" + secrets.token_hex(4)),
        wait_until="domcontentloaded",
        timeout=timeout * 1000,
    )
    try:
        page.wait_for_function(_KERNEL_IDLE, arg=name, timeout=timeout * 1000, polling=200)
    except Exception as exc:  # playwright TimeoutError
        raise NotebookError(
            f"{name}: no idle kernel after {timeout:.0f} s ({exc}).\nServer log:\n{lab_server.log_tail()}"
        ) from None
    return name


def run_all_cells(page: Any, lab_server: LabServer, name: str, marker: str, *, timeout: float = 300.0) -> None:
    """Run every cell of the open notebook ``name``; wait until ``marker`` shows in an output.

    Raises
    ------
    NotebookError
        When a cell's output is an error (with its traceback) or the marker does not appear.
    """
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    try:
        handle = page.wait_for_function(_MARKER_OR_ERROR, arg=[name, marker], timeout=timeout * 1000, polling=250)
    except Exception as exc:  # playwright TimeoutError
        raise NotebookError(
            f"{name}: marker {marker!r} not in any output after {timeout:.0f} s "
            f"({exc}).\nServer log:\n{lab_server.log_tail()}"
        ) from None
    result = handle.json_value()
    if not result["ok"]:
        raise NotebookError(
            f"{name}: cell {result['cell']} raised {result['ename']}: "
            f"{result['evalue']}\n{_ANSI.sub('', result['traceback'])}"
        )


def open_and_run_notebook(
    page: Any,
    lab_server: LabServer,
    notebook_path: str | Path,
    marker: str,
    *,
    extra_files: Iterable[str | Path] = (),
    timeout: float = 300.0,
) -> dict[str, float]:
    """Open a notebook in Lab, run all its cells and wait until ``marker`` is printed.

    Parameters
    ----------
    page : playwright.sync_api.Page
        From the ``browser_page`` fixture.
    lab_server : LabServer
        From the ``lab_server`` fixture.
    notebook_path : str or pathlib.Path
        ``.ipynb`` file; copied into ``lab_server.root_dir`` (its kernel's working directory).
    marker : str
        Text that the last cell prints, looked for in outputs only (not in cell sources: build
        it in the cell, e.g. ``print("DONE" + "-1")``).
    extra_files : iterable of paths
        Files or folders copied next to the notebook first (data the notebook reads).
    timeout : float
        Seconds for each of the two waits (idle kernel, then marker).

    Returns
    -------
    dict
        Seconds taken: ``{"to_idle": ..., "to_marker": ...}``.

    Example
    -------
    >>> open_and_run_notebook(browser_page, lab_server, "demo.ipynb", "READY")  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    name = open_notebook(page, lab_server, notebook_path, extra_files=extra_files, timeout=timeout)
    t1 = time.perf_counter()
    run_all_cells(page, lab_server, name, marker, timeout=timeout)
    return {"to_idle": t1 - t0, "to_marker": time.perf_counter() - t1}


def run_cells(
    page: Any,
    lab_server: LabServer,
    cells: Iterable[str],
    notebook_path: str | Path,
    marker: str,
    *,
    timeout: float = 300.0,
) -> dict[str, float]:
    """Write ``cells`` (code sources) as the notebook ``notebook_path``, then open and run it.

    The same as :func:`open_and_run_notebook` (same return value), for tests that build their
    notebook from a list of code cells.

    Example
    -------
    >>> run_cells(browser_page, lab_server, ["print('OK' + '-1')"], tmp_path / "t.ipynb", "OK-1")  # doctest: +SKIP
    """
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip()) for c in cells])
    nbformat.write(notebook, notebook_path)
    return open_and_run_notebook(page, lab_server, notebook_path, marker, timeout=timeout)


# --------------------------------------------------------------------------- the kernel
def run_in_kernel(page: Any, code: str, *, notebook: str | None = None, timeout: float = 120.0) -> str:
    """Execute ``code`` in the kernel of an open notebook and return what it printed to stdout.

    No cell is added; widgets created by this code are not displayed. Raises ``NotebookError``
    if the code raises, ``TimeoutError`` if it does not finish in ``timeout`` seconds.

    Parameters
    ----------
    notebook : str, optional
        Path relative to the server root, as returned by :func:`open_notebook`; default: the
        notebook that is the current widget.
    """
    res = page.evaluate(_EXECUTE, [notebook, code, int(timeout * 1000)])
    if res["status"] == "timeout":
        raise TimeoutError(f"kernel code did not finish in {timeout:.0f} s:\n{code}")
    if res["status"] != "ok":
        raise NotebookError(
            f"kernel code failed ({res['status']}):\n{code}\n"
            f"{_ANSI.sub('', res.get('error') or '')}{res.get('stderr', '')}"
        )
    return res["stdout"]


def kernel_eval(page: Any, expression: str, *, notebook: str | None = None, timeout: float = 120.0) -> Any:
    """Evaluate a Python expression in the notebook's kernel and return it decoded from JSON.

    NumPy arrays and scalars come back as lists and numbers (via ``tolist()``), other
    non-JSON objects as ``str``.

    Example
    -------
    >>> kernel_eval(browser_page, "label.value")  # doctest: +SKIP
    'clicked 1'
    """
    code = (
        "import json as _sv_json\n"
        f"print('\\n' + _sv_json.dumps(({expression}), default=lambda o: "
        "o.tolist() if hasattr(o, 'tolist') else str(o)))"
    )
    out = run_in_kernel(page, code, notebook=notebook, timeout=timeout)
    return json.loads(out.rstrip("\n").rsplit("\n", 1)[-1])


# --------------------------------------------------------------------------- canvases
def canvas_element(locator: Any) -> Any:
    """Return the ``<canvas>`` itself: ``locator`` if it is one, else its first canvas child."""
    is_canvas = locator.evaluate("el => el.tagName === 'CANVAS'")
    return locator if is_canvas else locator.locator("canvas").first


def canvas_pixel_to_page(locator: Any, px: float, py: float) -> tuple[float, float]:
    """Return the page coordinates of the centre of canvas pixel ``(px, py)`` (x right, y down).

    The canvas may be stretched by CSS, so this scales by ``bounding_box() / canvas size``.
    The element is scrolled into view first, so the coordinates are valid for ``page.mouse``.
    """
    canvas = canvas_element(locator)
    canvas.scroll_into_view_if_needed()
    width, height = canvas.evaluate("c => [c.width, c.height]")
    box = canvas.bounding_box()
    return (box["x"] + (px + 0.5) * box["width"] / width, box["y"] + (py + 0.5) * box["height"] / height)


def click_canvas_pixel(page: Any, locator: Any, px: float, py: float) -> None:
    """Click canvas pixel ``(px, py)`` with the mouse."""
    x, y = canvas_pixel_to_page(locator, px, py)
    page.mouse.click(x, y)


def read_canvas_pixels(locator: Any) -> np.ndarray:
    """Return the canvas' pixels from ``getImageData`` as a ``(H, W, 4)`` uint8 RGBA array."""
    canvas = canvas_element(locator)
    width, height, b64 = canvas.evaluate("""c => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = '';
        for (let i = 0; i < data.length; i += 0x8000) {
            s += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
        }
        return [c.width, c.height, btoa(s)];
    }""")
    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(height, width, 4)
