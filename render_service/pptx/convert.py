"""Render .pptx files to one PNG per slide with LibreOffice (to PDF) and poppler's pdftoppm.

`soffice --convert-to png` renders only the first slide, hence the PDF step. Each worker has
its own LibreOffice profile directory, created once and reused: parallel workers never share
a profile lock, and a warm profile saves about a second per start. `convert_many` converts
several decks in one LibreOffice start, which is where a batch saves most.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile

from render_service.sandbox import scrubbed_env


class ConversionError(Exception):
    """LibreOffice or pdftoppm failed or ran out of time; the message says which."""


class SlideConverter:
    def __init__(self, soffice: str, timeout_s: float, width_px: int):
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

    def convert_many(self, decks: list[bytes]) -> list[list[bytes]]:
        """PNG bytes per slide for each deck, converted in one LibreOffice run."""
        with tempfile.TemporaryDirectory(prefix="pptx-") as work:
            folder = pathlib.Path(work)
            paths = []
            for index, data in enumerate(decks):
                paths.append(folder / f"deck{index}.pptx")
                paths[-1].write_bytes(data)
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
        shutil.rmtree(self.profile, ignore_errors=True)
