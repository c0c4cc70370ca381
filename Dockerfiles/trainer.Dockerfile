# The trainer base image: the training lifecycle without a model. Extend it with your own TrainerLogic and set
# LOOP_TRAINER_LOGIC (it has no default): see examples/trainer/, or Dockerfiles/reference-trainer.Dockerfile.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/venv
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY shared/pyproject.toml /src/shared/
COPY trainer/pyproject.toml /src/trainer/
RUN /opt/venv/bin/python /build/install_deps.py /src/shared /src/trainer
COPY shared /src/shared
COPY trainer /src/trainer
RUN sh /build/build_venv.sh /src/shared /src/trainer

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-trainer" org.opencontainers.image.description="Learning Loop trainer node (base: bring your own TrainerLogic)"
# jpeginfo checks downloaded images as the reference node does; apt's lists and caches go again (80 MB otherwise)
RUN apt-get update && apt-get install -y --no-install-recommends jpeginfo \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin loop && mkdir -p /data && chown loop /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOOP_DATA_DIR=/data LOOP_NODE_PORT=8005 \
    LOOP_HOST=learning-loop.ai
USER loop
VOLUME /data
EXPOSE 8005
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "loop_shared.healthcheck", "/ready"]
CMD ["loop-trainer"]
