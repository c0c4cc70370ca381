# The converter base image. Extend it with your own logic: see examples/converter/.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY shared/pyproject.toml /src/shared/
COPY converter/pyproject.toml /src/converter/
RUN /opt/venv/bin/python /build/install_deps.py /src/shared /src/converter
COPY shared /src/shared
COPY converter /src/converter
RUN sh /build/build_venv.sh /src/shared /src/converter

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-converter" org.opencontainers.image.description="Learning Loop converter node (ONNX to INT8)"
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin loop && mkdir -p /data && chown loop /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOOP_DATA_DIR=/data LOOP_NODE_PORT=8006 \
    LOOP_HOST=learning-loop.ai LOOP_CONVERTER_LOGIC=loop_converter.onnx_converters:OnnxInt8Converter
USER loop
VOLUME /data
EXPOSE 8006
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "loop_shared.healthcheck", "/ready"]
CMD ["loop-converter"]
