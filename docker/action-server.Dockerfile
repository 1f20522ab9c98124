# A Python action server (jetactions) as a container image, built from the wheels that CI tests.
#
# No container engine runs on this project's machines and base images cannot be fetched there,
# so CI never builds this file. Every step is one that CI runs outside a container:
# scripts/smoke-wheels (build the sdists and wheels, twine check, install them into a fresh
# virtualenv with scripts/install-wheels and serve an SDK action server behind the bridge), then
# scripts/install-wheels into the venv that the final stage copies. tests/test_dockerfiles.py
# checks this file statically (COPY sources, stages, user, health check, entry point).
#
#   docker build -f docker/action-server.Dockerfile -t shop .                      the example shop
#   docker build -f docker/action-server.Dockerfile --build-arg APP_DIR=path/to/app -t myapp .
#   docker run myapp serve module:app                               your own code and its app
#
# The server listens on JETACTIONS_ADDRESS (0.0.0.0:50051 here) and serves grpc.health.v1:
# probe it with Kubernetes' gRPC probes (service jetactions.v1.ActionService); the HEALTHCHECK
# below asks the same service. Set JETBRIDGE_SECRET to the bridge's shared secret.
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
RUN scripts/install-wheels /dist /opt/jetactions 'jetactions[speed,metrics]'

# The final stage: the base image, the venv and the application code, nothing else.
FROM ${PYTHON_IMAGE}
ARG APP_DIR=examples/python
COPY --from=builder /opt/jetactions /opt/jetactions
COPY ${APP_DIR}/ /app/
WORKDIR /app
ENV PATH=/opt/jetactions/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JETACTIONS_ADDRESS=0.0.0.0:50051
# A numeric non-root user, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import grpc, os; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; port = os.environ['JETACTIONS_ADDRESS'].rpartition(':')[2]; s = g.HealthStub(grpc.insecure_channel(f'127.0.0.1:{port}')).Check(h.HealthCheckRequest(service='jetactions.v1.ActionService'), timeout=2).status; raise SystemExit(s != h.HealthCheckResponse.SERVING)"]
# The SDK's command, `jetactions serve MODULE:APP`; the example's app is a factory.
ENTRYPOINT ["jetactions"]
CMD ["serve", "shop.py:build_app"]
