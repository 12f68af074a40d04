#!/usr/bin/env bash
# The production start command. The Dockerfile's CMD runs this script and so does
# scripts/container_check.sh, so the flags a deployment runs with live in one place.
#
#   PORT               listening port (default 8501)
#   DROPLAB_ADDRESS    listening address (default 0.0.0.0; the check uses 127.0.0.1)
#   OMP_NUM_THREADS    torch's intra-op threads (default: the CPUs this cgroup may use)
#   PYTHON             interpreter (default python3)
# Settings that are not about starting the process (upload cap, XSRF, session TTL, ...)
# are in .streamlit/config.toml, which Streamlit reads from the working directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# CPUs this process may really use. torch sizes its thread pool from the host's cores, not
# from the container's CPU quota: on a 64-core node with a 2-CPU limit it would start 64
# threads per forward pass and spend most of its quota being throttled.
allowed_cpus() {
  local cpus quota period
  cpus=$(nproc)
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max
    if [ "$quota" != "max" ] && [ "${period:-0}" -gt 0 ]; then
      quota=$(( (quota + period - 1) / period ))
      if [ "$quota" -lt "$cpus" ]; then cpus=$quota; fi
    fi
  fi
  echo "$cpus"
}

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(allowed_cpus)}"

exec "${PYTHON:-python3}" -m streamlit run app.py \
  --server.port "${PORT:-8501}" \
  --server.address "${DROPLAB_ADDRESS:-0.0.0.0}" \
  --server.headless true \
  --server.fileWatcherType none \
  --server.runOnSave false \
  --browser.gatherUsageStats false
