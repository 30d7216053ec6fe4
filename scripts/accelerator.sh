#!/usr/bin/env bash
# Prints the JAX build this host needs: tpu on a TPU VM (its accelerator device files), cuda12
# where nvidia-smi lists a GPU, else cpu. `make setup ACCEL=...` overrides it.
if compgen -G "/dev/accel[0-9]*" >/dev/null || compgen -G "/dev/vfio/[0-9]*" >/dev/null; then
  echo tpu
elif command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo cuda12
else
  echo cpu
fi
