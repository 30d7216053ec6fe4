"""Renderers that fail in the worker itself (outside any sandbox), for the pool's recovery tests."""

import os
import time

from render_service.types import RenderResult


class CrashingRenderer:
    def __init__(self, config):
        pass

    def render(self, request):
        os._exit(1)

    def close(self):
        pass


class HangingRenderer(CrashingRenderer):
    def render(self, request):
        time.sleep(3600)
        return RenderResult(id=request.id, ok=True)


class ForgingRenderer(CrashingRenderer):
    """A worker taken over by its code: answers with a decompression bomb as a clean render."""

    def render(self, request):
        from test_attacks import bomb_png

        return RenderResult(
            id=request.id, ok=True, image_png=bomb_png(13_000, 13_000), width=640, height=480
        )
