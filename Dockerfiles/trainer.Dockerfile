# Two images from one file, so that `docker compose up` builds both without a step before it:
# - the trainer base (the default target, `loop-nodes/trainer`): the training lifecycle without a model. Extend it
#   with your own TrainerLogic and set LOOP_TRAINER_LOGIC (it has no default): see examples/trainer/.
# - the reference trainer (`--target reference-trainer`, `loop-nodes/reference-trainer`): the base plus the
#   reference TrainerLogic (reference_trainer/: JAX, Flax, Optax, jax2onnx), built FROM the base stage the way a user
#   builds their own trainer image FROM the base image, adding a package.
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

FROM ${BASE_IMAGE} AS trainer
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

# The reference trainer: only what the base venv lacks is installed, into a prefix of its own; the last stage adds
# just that layer to the base's venv (copying the whole venv again would carry the base's packages twice).
FROM trainer AS reference-build
USER root
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY reference_trainer/pyproject.toml /src/reference_trainer/
ENV PIP_PREFIX=/opt/reference
RUN /opt/venv/bin/python /build/install_deps.py /src/reference_trainer
COPY reference_trainer /src/reference_trainer
# build_venv.sh's uninstall of the build tools leaves the prefix alone (pip keeps to the venv): they go at the end
RUN export PYTHONPATH="$(echo /opt/reference/lib/python3*/site-packages)" \
    && sh /build/build_venv.sh /src/reference_trainer \
    && site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && mkdir -p "/layer$site" && cp -a "$PYTHONPATH/." "/layer$site/" \
    && cd "/layer$site" && rm -rf setuptools* wheel* _distutils_hack distutils-precedence.pth pkg_resources

FROM trainer AS reference-trainer
LABEL org.opencontainers.image.title="loop-reference-trainer" \
      org.opencontainers.image.description="Learning Loop trainer node with the reference trainer (JAX on CPU)"
COPY --from=reference-build /layer/ /
ENV LOOP_TRAINER_LOGIC=loop_reference_trainer.logic:ReferenceTrainerLogic

# The default target: the base, without JAX (the reference stages above are skipped, or built and left aside)
FROM trainer
