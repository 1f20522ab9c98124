# The bridge (jetbridge) as a container image, built from the wheels that CI tests.
#
# No container engine runs on this project's machines and base images cannot be fetched there,
# so CI never builds this file. Every step is one that CI runs outside a container:
# scripts/smoke-wheels (build the sdists and wheels, twine check, install them into a fresh
# virtualenv with scripts/install-wheels and call the bridge from there), then
# scripts/install-wheels into the venv that the final stage copies. tests/test_dockerfiles.py
# checks this file statically (COPY sources, stages, user, health check, entry point).
#
#   docker build -f docker/bridge.Dockerfile -t jetbridge .
#   docker run -p 8888:8888 -e BEARER_AUTH_KEY=... -e JETBRIDGE_SERVICES=shop=shop:50051 jetbridge
#
# Probes: GET /healthz (alive) and GET /readyz (first discovery done) on the HTTP port; the
# HEALTHCHECK below calls /healthz. docs/kubernetes.md has the Deployment.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
COPY requirements-dev.txt ./
COPY scripts/ scripts/
COPY proto/ proto/
COPY sdk_python/ sdk_python/
COPY bridge/ bridge/
COPY conformance/ conformance/
# The build tools at requirements-dev.txt's versions, where scripts/smoke-wheels looks for them.
RUN python -m venv .venv \
 && .venv/bin/pip install --quiet $(grep -E '^(build|hatchling|twine|packaging)==' requirements-dev.txt)
# Exactly CI's wheel step; it leaves the tested sdists and wheels in /dist.
RUN DIST=/dist scripts/smoke-wheels
RUN scripts/install-wheels /dist /opt/jetbridge jetactions 'jetbridge[speed]'

# The final stage: the base image and the venv, nothing else (no compiler, no pip install).
FROM ${PYTHON_IMAGE}
COPY --from=builder /opt/jetbridge /opt/jetbridge
# Change the port with PORT (the bridge's own setting), not --port: the HEALTHCHECK reads it.
ENV PATH=/opt/jetbridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8888
# A numeric non-root user, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8888
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/healthz\", timeout=2)"]
ENTRYPOINT ["jetbridge"]
CMD ["serve"]
