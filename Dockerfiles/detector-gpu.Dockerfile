# The detector on NVIDIA GPUs: onnxruntime-gpu (CUDA, and TensorRT where its libraries are added) instead of the
# CPU build. CUDA and cuDNN come from NVIDIA's wheels (docker/gpu-requirements.txt), so any Debian or Ubuntu base
# with Python 3.11 works; an NVIDIA CUDA runtime image with Python 3.11 works too (BASE_IMAGE=...).
# Run it with the GPU passed in: docker compose -f docker-compose.yml -f docker-compose.gpu.yml up
# Without a GPU it starts all the same and serves on the CPU, after one warning (see LOOP_ORT_PROVIDERS).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/wheels/ /wheels/
COPY docker/wheels-gpu/ /wheels-gpu/
COPY docker/install_deps.py docker/build_venv.sh docker/gpu-requirements.txt constraints.txt /build/
COPY shared/pyproject.toml /src/shared/
COPY detector/pyproject.toml /src/detector/
RUN /opt/venv/bin/python /build/install_deps.py /src/shared /src/detector
# the CPU build and the GPU build both provide the `onnxruntime` module: swap one for the other
RUN /opt/venv/bin/pip uninstall --yes onnxruntime \
    && if ls /wheels-gpu/*.whl >/dev/null 2>&1; then source="--no-index --find-links /wheels-gpu --find-links /wheels"; \
       else source=""; fi \
    && /opt/venv/bin/pip install --no-cache-dir $source -r /build/gpu-requirements.txt
COPY shared /src/shared
COPY detector /src/detector
RUN sh /build/build_venv.sh /src/shared /src/detector

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-detector-gpu" \
      org.opencontainers.image.description="Learning Loop detector node (ONNX Runtime with CUDA on NVIDIA GPUs)"
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin loop && mkdir -p /data && chown loop /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOOP_DATA_DIR=/data LOOP_NODE_PORT=8004 \
    LOOP_HOST=learning-loop.ai LOOP_DETECTOR_LOGIC=loop_detector.onnx_logic:OnnxDetectorLogic \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER loop
VOLUME /data
EXPOSE 8004
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-m", "loop_shared.healthcheck", "/ready"]
CMD ["loop-detector"]
