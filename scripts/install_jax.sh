#!/usr/bin/env bash
# install_jax.sh PYTHON ACCEL: the JAX build for ACCEL (cpu | tpu | cuda12 | cuda13), at the
# version the project's dependencies already installed, so jax and its plugin always match.
set -euo pipefail
py=$1 accel=$2
version=$("$py" -c 'import jax; print(jax.__version__)')
pip=("$py" -m pip install -q --disable-pip-version-check)
case "$accel" in
  cpu)
    # A venv that held an accelerator build: remove its plugins so JAX falls back to the CPU.
    "$py" -m pip uninstall -q -y jax-cuda12-plugin jax-cuda12-pjrt jax-cuda13-plugin \
      jax-cuda13-pjrt libtpu 2>/dev/null || true ;;
  tpu) "${pip[@]}" "jax[tpu]==$version" ;;
  cuda12 | cuda13) "${pip[@]}" "jax[$accel]==$version" ;;
  *) echo "setup: ACCEL=$accel: use cpu, tpu, cuda12 or cuda13"; exit 2 ;;
esac
