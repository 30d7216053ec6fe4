"""Shared test fixtures. JAX runs on the CPU with 8 simulated devices so sharded paths can be
compared against unsharded ones; matmuls use the highest precision for parity tests.

Compiled programs go to one persistent compilation cache for the whole session: a temporary
folder made by the first process (the xdist controller, or the only process) before anything
imports JAX, named in the environment so the workers and the subprocesses tests start use the
same one. A step that several tests compile with the same shapes compiles once; the folder is
removed when the session ends."""

import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CACHE_VARIABLE = "VISUAL_SDPO_TEST_JAX_CACHE"
_made_cache = CACHE_VARIABLE not in os.environ
if _made_cache:
    os.environ[CACHE_VARIABLE] = tempfile.mkdtemp(prefix="visual-sdpo-jax-cache-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ[CACHE_VARIABLE]
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"


def pytest_unconfigure(config):
    if _made_cache and not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ[CACHE_VARIABLE], ignore_errors=True)
