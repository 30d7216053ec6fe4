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
