"""Render .pptx files to one PNG per slide with LibreOffice (to PDF) and poppler's pdftoppm.

`soffice --convert-to png` renders only the first slide, hence the PDF step. Each worker has
its own LibreOffice profile directory (parallel workers never share a profile lock).

Warm path: where a Python with LibreOffice's `uno` module exists (Debian: python3-uno), one
LibreOffice per worker stays running and `uno_bridge.py` (run by that Python) loads each deck
into it: a few hundred milliseconds a deck instead of a fresh start. A bridge that fails or
hangs is killed with its LibreOffice and the next deck starts them again. Without `uno`, each
call starts `soffice --convert-to pdf`, and `convert_many` at least shares that start across
a batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import selectors
import shutil
import signal
import subprocess
import tempfile
import uuid

from render_service.sandbox import scrubbed_env


class ConversionError(Exception):
    """LibreOffice or pdftoppm failed or ran out of time; the message says which."""


class SlideConverter:
    def __init__(self, soffice: str, timeout_s: float, width_px: int, uno_python: str | None):
        for tool in (soffice, "pdftoppm"):
            if shutil.which(tool) is None:
                raise FileNotFoundError(
                    f"{tool} not found: install LibreOffice and poppler-utils "
                    "(apt-get install libreoffice-impress poppler-utils) or set "
                    "RenderConfig.soffice_path"
                )
        self.soffice = soffice
        self.timeout_s = timeout_s
        self.width_px = width_px
        self.profile = tempfile.mkdtemp(prefix="lo-profile-")
        self.work_root = tempfile.mkdtemp(prefix="pptx-work-")  # the only place decks are read
        self.uno_python = uno_python if uno_python and _has_uno(uno_python) else None
        self._office: subprocess.Popen | None = None
        self._bridge: subprocess.Popen | None = None
        if self.warm:  # start now, while the pool warms the worker, not in the first request
            try:
                self._start_office()
            except ConversionError:
                self.uno_python = None

    @property
    def warm(self) -> bool:
        return self.uno_python is not None

    def convert_many(self, decks: list[bytes]) -> list[list[bytes]]:
        """PNG bytes per slide for each deck."""
        with tempfile.TemporaryDirectory(prefix="pptx-", dir=self.work_root) as work:
            folder = pathlib.Path(work)
            paths = []
            for index, data in enumerate(decks):
                paths.append(folder / f"deck{index}.pptx")
                paths[-1].write_bytes(data)
            if self.warm:
                for path in paths:
                    self._bridge_convert(path, path.with_suffix(".pdf"))
            else:
                self._run(
                    [
                        self.soffice,
                        f"-env:UserInstallation=file://{self.profile}",
                        "--headless",
                        "--norestore",
                        "--convert-to",
                        "pdf",
                        "--outdir",
                        str(folder),
                        *map(str, paths),
                    ],
                    "LibreOffice",
                )
            images = []
            for path in paths:
                pdf = path.with_suffix(".pdf")
                if not pdf.exists():
                    raise ConversionError(f"LibreOffice could not convert {path.name}")
                prefix = folder / path.stem
                self._run(
                    [
                        "pdftoppm",
                        "-png",
                        "-scale-to-x",
                        str(self.width_px),
                        "-scale-to-y",
                        "-1",
                        str(pdf),
                        str(prefix),
                    ],
                    "pdftoppm",
                )
                pages = sorted(
                    folder.glob(f"{path.stem}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1])
                )
                images.append([page.read_bytes() for page in pages])
            return images

    def _bridge_convert(self, source: pathlib.Path, target: pathlib.Path) -> None:
        if self._bridge is None:
            self._start_office()
        request = json.dumps({"source": str(source), "target": str(target)}) + "\n"
        try:
            self._bridge.stdin.write(request.encode())
            self._bridge.stdin.flush()
            answer = _read_line(self._bridge, self.timeout_s)
        except (OSError, TimeoutError) as err:
            self._stop_office()
            raise ConversionError(
                f"LibreOffice failed on this deck and was restarted: {err}"
            ) from err
        if answer != "ok":  # LibreOffice may be hurt too: start afresh for the next deck
            self._stop_office()
            raise ConversionError(f"LibreOffice could not convert the deck: {answer}")

    def _start_office(self) -> None:
        pipe = f"vsdpo-{uuid.uuid4().hex}"
        env = scrubbed_env({"HOME": self.profile})
        self._office = subprocess.Popen(
            [
                self.soffice,
                f"-env:UserInstallation=file://{self.profile}",
                "--headless",
                "--invisible",
                "--norestore",
                "--nologo",
                f"--accept=pipe,name={pipe};urp;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        bridge = pathlib.Path(__file__).with_name("uno_bridge.py")
        self._bridge = subprocess.Popen(
            [self.uno_python, str(bridge), pipe, self.work_root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            ready = _read_line(self._bridge, max(self.timeout_s, 60.0))
        except (OSError, TimeoutError) as err:
            self._stop_office()
            raise ConversionError(f"LibreOffice did not start: {err}") from err
        if ready != "ready":
            self._stop_office()
            raise ConversionError(f"LibreOffice bridge did not start: {ready}")

    def _stop_office(self) -> None:
        for process in (self._bridge, self._office):
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._bridge = self._office = None

    def _run(self, command: list[str], name: str) -> None:
        env = scrubbed_env({"HOME": self.profile})
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired as err:
            raise ConversionError(f"{name} took longer than {self.timeout_s:g}s") from err
        finally:  # LibreOffice forks soffice.bin; take the whole session down
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise ConversionError(f"{name} failed (exit {process.returncode}): {tail[0]}")

    def close(self) -> None:
        self._stop_office()
        shutil.rmtree(self.profile, ignore_errors=True)
        shutil.rmtree(self.work_root, ignore_errors=True)


def _has_uno(python: str) -> bool:
    try:
        return (
            subprocess.run([python, "-c", "import uno"], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _read_line(process: subprocess.Popen, timeout_s: float) -> str:
    """One line from the process's stdout, or TimeoutError / OSError (it died)."""
    stream = process.stdout
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise TimeoutError(f"no answer within {timeout_s:g}s")
    line = stream.readline()
    if not line:
        raise OSError(f"bridge exited with status {process.poll()}")
    return line.decode(errors="replace").strip()
