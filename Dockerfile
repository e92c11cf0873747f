# Starbase images. `docker build --target starbase .` is the production image: the router,
# `starbase serve` and the maintenance commands all run from it (ENTRYPOINT `starbase`; the
# orchestrator names the command: deploy/aws, deploy/kubernetes). `--target router` and
# `--target emitter` add default commands for compose.yaml.
# Dependencies are installed at the versions pinned in constraints.txt, as CI installs them,
# into a virtual environment that the final stage copies: no compiler, pip cache or build
# files in the image. For reproducible builds, pin both FROM lines by digest as well
# (`python:3.11.14-slim-bookworm@sha256:…`, from `docker buildx imagetools inspect`).

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# gcc only in this stage: it builds the compiled OTLP decoder (starbase/router/native/).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY starbase ./starbase
RUN python -m venv /opt/starbase \
    && /opt/starbase/bin/pip install -c constraints.txt . \
    && /opt/starbase/bin/python -c "from starbase.router import native; assert native.available()" \
    && /opt/starbase/bin/pip uninstall --yes pip setuptools wheel

FROM python:3.11.14-slim-bookworm AS starbase
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/starbase/bin:$PATH \
    STARBASE_DATA=/data
COPY --from=build /opt/starbase /opt/starbase
RUN useradd --create-home --uid 10001 --user-group starbase \
    && mkdir -p /data /etc/starbase \
    && chown starbase:starbase /data /etc/starbase
USER 10001:10001
WORKDIR /home/starbase
HEALTHCHECK --interval=30s --timeout=5s CMD ["starbase", "--help"]
ENTRYPOINT ["starbase"]

# The router: OTLP/HTTP on 4318 (also /firehose and /v1/raw), data under /data.
FROM starbase AS router
VOLUME /data
EXPOSE 4318
CMD ["router", "--host", "0.0.0.0", "--port", "4318", "--data", "/data"]

# The emitter: realistic traffic of the simulated shop, to the router by default.
FROM starbase AS emitter
CMD ["emit", "--mode", "otlp", "--scenario", "steady", "--rate", "200", "--endpoint", "http://router:4318/v1/logs"]
