"""Shared test fixtures. JAX runs on the CPU with 8 simulated devices so sharded paths can be
compared against unsharded ones; matmuls use the highest precision for parity tests."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
