# The annotator base image, with the OpenCV tool as its default. Your own tool: an image FROM this one, a COPY of
# your package and ENV LOOP_ANNOTATOR_LOGIC=your_pkg.module:YourTool (an AnnotatorLogic).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY shared/pyproject.toml /src/shared/
COPY annotator/pyproject.toml /src/annotator/
RUN /opt/venv/bin/python /build/install_deps.py /src/shared /src/annotator
COPY shared /src/shared
COPY annotator /src/annotator
RUN sh /build/build_venv.sh /src/shared /src/annotator

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-annotator" org.opencontainers.image.description="Learning Loop annotator node (segments what people mark: GrabCut by default)"
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin loop && mkdir -p /data && chown loop /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOOP_DATA_DIR=/data LOOP_NODE_PORT=8007 \
    LOOP_HOST=learning-loop.ai LOOP_ANNOTATOR_LOGIC=loop_annotator.tool.logic:GrabCutTool
USER loop
VOLUME /data
EXPOSE 8007
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "loop_shared.healthcheck", "/ready"]
CMD ["loop-annotator"]
