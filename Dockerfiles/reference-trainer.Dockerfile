# The reference trainer image: the trainer base plus the reference TrainerLogic (reference_trainer/: JAX, Flax,
# Optax, jax2onnx). It is built the way a user builds their own trainer image: FROM the base, adding a package.
# Build the base first (make images does): docker build -t loop-nodes/trainer -f Dockerfiles/trainer.Dockerfile .
ARG TRAINER_IMAGE=loop-nodes/trainer:latest

FROM ${TRAINER_IMAGE} AS build
USER root
COPY docker/wheels/ /wheels/
COPY docker/install_deps.py docker/build_venv.sh constraints.txt /build/
COPY reference_trainer/pyproject.toml /src/reference_trainer/
# Only what the base venv lacks is installed, into a prefix of its own; the final stage adds just that layer to the
# base's venv (copying the whole venv again would carry the base's packages twice).
ENV PIP_PREFIX=/opt/reference
RUN /opt/venv/bin/python /build/install_deps.py /src/reference_trainer
COPY reference_trainer /src/reference_trainer
# build_venv.sh's uninstall of the build tools leaves the prefix alone (pip keeps to the venv): they go at the end
RUN export PYTHONPATH="$(echo /opt/reference/lib/python3*/site-packages)" \
    && sh /build/build_venv.sh /src/reference_trainer \
    && site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && mkdir -p "/layer$site" && cp -a "$PYTHONPATH/." "/layer$site/" \
    && cd "/layer$site" && rm -rf setuptools* wheel* _distutils_hack distutils-precedence.pth pkg_resources

FROM ${TRAINER_IMAGE}
LABEL org.opencontainers.image.title="loop-reference-trainer" \
      org.opencontainers.image.description="Learning Loop trainer node with the reference trainer (JAX on CPU)"
COPY --from=build /layer/ /
ENV LOOP_TRAINER_LOGIC=loop_reference_trainer.logic:ReferenceTrainerLogic
