"""A Voilà server for real-browser tests of the App page (``notebooks/app.ipynb``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab import REPO_ROOT, _free_port, _prepare_dirs, wait_until


@dataclass
class VoilaServer:
    """A running ``voila`` serving one notebook on 127.0.0.1."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def log_tail(self, n_chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_voila(notebook: Path, base_dir: Path, *, timeout: float = 180.0) -> VoilaServer:
    """Serve ``notebook`` (copied into ``base_dir``) with Voilà; fast training (``SVNB_FAST=1``)."""
    env = _prepare_dirs(base_dir)
    env["SVNB_FAST"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT)
    root = base_dir / "root"
    shutil.copy(notebook, root / notebook.name)
    port = _free_port()
    log_path = base_dir / "voila.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--VoilaConfiguration.file_allowlist=['.*']",
                notebook.name,
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = VoilaServer(process, f"http://127.0.0.1:{port}/", log_path)

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited ({process.returncode}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/", timeout=5):
                return True
        except urllib.error.HTTPError:
            return True  # the server answers
        except (urllib.error.URLError, OSError):
            return False

    wait_until(up, timeout=timeout, interval=0.5, message="the Voilà server")
    return server
