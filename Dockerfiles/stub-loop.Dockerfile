# The stub Loop: a test double of the Learning Loop's node-facing API, the local default Loop of the compose stack.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY shared/pyproject.toml /src/shared/
COPY testkit/pyproject.toml /src/testkit/
COPY stub_loop/pyproject.toml /src/stub_loop/
RUN /opt/venv/bin/python /build/install_deps.py /src/shared /src/testkit /src/stub_loop
COPY shared /src/shared
COPY testkit /src/testkit
COPY stub_loop /src/stub_loop
RUN sh /build/build_venv.sh /src/shared /src/testkit /src/stub_loop

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-stub" org.opencontainers.image.description="Learning Loop stub (test double)"
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin loop && mkdir -p /data && chown loop /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOOP_DATA_DIR=/data LOOP_NODE_PORT=8000 LOOP_STUB_DEMO=true
USER loop
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python3", "-m", "loop_shared.healthcheck", "/api/status"]
CMD ["loop-stub"]
