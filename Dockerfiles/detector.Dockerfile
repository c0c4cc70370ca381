# The detector base image. Extend it with your own logic: see examples/detector/.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY shared/pyproject.toml /src/shared/
COPY detector/pyproject.toml /src/detector/
RUN /opt/venv/bin/python /build/install_deps.py /src/shared /src/detector
COPY shared /src/shared
COPY detector /src/detector
RUN sh /build/build_venv.sh /src/shared /src/detector

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-detector" org.opencontainers.image.description="Learning Loop detector node (ONNX Runtime on CPU)"
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin loop && mkdir -p /data && chown loop /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOOP_DATA_DIR=/data LOOP_NODE_PORT=8004 \
    LOOP_HOST=learning-loop.ai LOOP_DETECTOR_LOGIC=loop_detector.onnx_logic:OnnxDetectorLogic
USER loop
VOLUME /data
EXPOSE 8004
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "loop_shared.healthcheck", "/ready"]
CMD ["loop-detector"]
