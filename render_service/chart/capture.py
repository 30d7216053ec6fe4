"""Running matplotlib code in the sandboxed child and capturing the figures it made.

`plt.show()` does nothing, `savefig` records the figure instead of writing (the path is the
model's, the pixels are ours), and every warning is kept with the generated line that caused
it. Runs only inside the forked child: the patches die with it.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from render_service.generated import GENERATED, current_generated_line, exec_generated


class FigureCapture:
    """Patches pyplot/Figure so the figures a program made can be found afterwards."""

    def __init__(self):
        self.made: list[Figure] = []
        self.saved: list[Figure] = []
        self.warnings: list[tuple[str, int | None]] = []

    def install(self) -> None:
        capture = self
        original_init = Figure.__init__

        def init(fig, *args, **kwargs):
            original_init(fig, *args, **kwargs)
            capture.made.append(fig)

        def savefig(fig, *args, **kwargs):
            if fig not in capture.saved:
                capture.saved.append(fig)

        def show(*args, **kwargs):
            return None

        Figure.__init__ = init
        Figure.savefig = savefig
        Figure.show = show
        plt.show = show
        plt.pause = show
        warnings.simplefilter("always")
        warnings.showwarning = self._keep_warning

    def run(self, code: str) -> None:
        exec_generated(code, {"__name__": "__main__", "__builtins__": __builtins__})

    def figures(self) -> list[Figure]:
        """Saved figures if the code saved any; else every figure still open."""
        if self.saved:
            return list(self.saved)
        open_numbers = set(plt.get_fignums())
        return [
            fig
            for fig in self.made
            if fig.canvas.manager is None or fig.canvas.manager.num in open_numbers
        ]

    def _keep_warning(self, message, category, filename, lineno, file=None, line=None):
        where = lineno if filename == GENERATED else current_generated_line()
        self.warnings.append((f"{category.__name__}: {message}", where))
