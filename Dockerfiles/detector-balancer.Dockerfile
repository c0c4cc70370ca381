# HAProxy in front of the Swarm detector tasks (deploy/swarm/stack.yml's `balancer`): Debian bookworm's haproxy
# package (2.6) and deploy/swarm/haproxy.cfg, checked at build time. Built by `make images` FROM the Debian base
# made here (BASE_IMAGE=loop-nodes/debian-python:bookworm) or, where the engine pulls, FROM python:3.11-slim-bookworm.
# The build context is deploy/swarm/:
#   docker build -t loop-nodes/detector-balancer -f Dockerfiles/detector-balancer.Dockerfile deploy/swarm
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="loop-detector-balancer" \
      org.opencontainers.image.description="HAProxy 2.6 in front of the Learning Loop detector replicas on Docker Swarm"
RUN apt-get update && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY haproxy.cfg /etc/haproxy/haproxy.cfg
# the server slots (at most this many detector tasks) and the name listing the tasks (Docker's DNS)
ENV DETECTOR_SLOTS=16 DETECTOR_TASKS=tasks.detector:8004
RUN haproxy -c -f /etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 8004 8404
# SIGUSR1: HAProxy's soft stop (stop listening, let the connections under way finish); SIGTERM would cut them
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=5s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8404/health', timeout=4)"]
CMD ["haproxy", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
