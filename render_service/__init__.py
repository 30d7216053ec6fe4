"""Host-side rendering for Visual-SDPO: sandboxed execution, renderers, defect detectors.

The trainer needs only this client API; it imports no JAX and no renderer library.
"""

from render_service.config import RenderConfig
from render_service.pool import RenderPool
from render_service.sandbox import SandboxLimits
from render_service.types import (
    DEFECT_KINDS,
    DOMAINS,
    BBox,
    Defect,
    DefectKind,
    Domain,
    Element,
    RenderRequest,
    RenderResult,
)

__all__ = [
    "DEFECT_KINDS",
    "DOMAINS",
    "BBox",
    "Defect",
    "DefectKind",
    "Domain",
    "Element",
    "RenderConfig",
    "RenderPool",
    "RenderRequest",
    "RenderResult",
    "SandboxLimits",
]
