# syntax=docker/dockerfile:1
# DropLab public demo.
#   docker build --build-arg TORCH_VARIANT=cpu  -t droplab:cpu  .   # CPU-only torch, small
#   docker build --build-arg TORCH_VARIANT=cuda -t droplab:cuda .   # CUDA torch from PyPI
#   docker run --rm -p 8501:8501 droplab:cpu
#   docker run --rm --gpus all -p 8501:8501 droplab:cuda
# scripts/container_check.sh (run by CI through tests/test_container.py) repeats what this
# image does at run time, since Docker itself cannot run where CI runs.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: virtual environment and model weights; needs network ----
FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VARIANT=cpu
ARG DROPLAB_MODEL=resnet50
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    TORCH_HOME=/opt/torch
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python -m venv /opt/venv
WORKDIR /app

COPY requirements.txt ./
COPY deploy/constraints.txt deploy/
# torch and torchvision first, from the index of the chosen variant, at the pinned
# versions: the CPU index's wheels leave out several GB of CUDA libraries, and the
# second install then finds torch already satisfied. PyPI's Linux torch is the CUDA build.
RUN case "${TORCH_VARIANT}" in \
      cpu)  index=https://download.pytorch.org/whl/cpu ;; \
      cuda) index=https://pypi.org/simple ;; \
      *)    echo "TORCH_VARIANT must be cpu or cuda, not '${TORCH_VARIANT}'" >&2; exit 2 ;; \
    esac \
 && grep -E '^(torch|torchvision)==' deploy/constraints.txt > /tmp/torch.txt \
 && pip install --index-url "${index}" -r /tmp/torch.txt \
 && pip install -r requirements.txt -c deploy/constraints.txt

# Weights into the torchvision cache under TORCH_HOME, verified through the app's own
# loader (models/ alone: this layer is rebuilt only when the loader changes), so that
# weights="auto" resolves them with no network at run time.
COPY models/ models/
COPY scripts/fetch_weights.py scripts/
RUN python scripts/fetch_weights.py --model "${DROPLAB_MODEL}"

# ---- runtime: no compilers, no pip cache, not root ----
FROM ${PYTHON_IMAGE}
ARG DROPLAB_MODEL=resnet50
ENV PATH=/opt/venv/bin:$PATH \
    TORCH_HOME=/opt/torch \
    DROPLAB_MODEL=${DROPLAB_MODEL} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8501 \
    NUMBA_CACHE_DIR=/tmp/numba-cache
# NUMBA_CACHE_DIR: the training engine's mask kernels (numba) are compiled on first use and
# cached; /app is read-only to the app user and Kubernetes mounts the root filesystem
# read-only, so the cache lives in /tmp (an emptyDir there). Without a writable cache dir
# numba cannot load the kernels and the engine falls back to slower torch ops.
# Fashion-MNIST for the Train page, from Debian (the engine finds it there, no network).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --user-group droplab \
 && mkdir -p /data/runs && chown droplab:droplab /data/runs
# Trained runs (results and weights): mount a volume shared by every replica here.
ENV DROPLAB_RUNS=/data/runs
VOLUME ["/data/runs"]
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/torch /opt/torch
WORKDIR /app
# Everything the app needs, owned by root and read-only to the app's user (.dockerignore
# keeps tests, benchmarks, docs and local state out).
COPY . .
USER 10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD ["python", "scripts/healthcheck.py"]
CMD ["scripts/serve.sh"]
