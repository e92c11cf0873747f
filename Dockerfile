# Starbase images: `docker build --target router .` and `docker build --target emitter .`.
# Both run the `starbase` command (ENTRYPOINT); the stage only chooses the default command.
# Dependencies are installed at the versions pinned in constraints.txt, as CI installs them.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY starbase ./starbase
# gcc only while installing: it builds the compiled OTLP decoder (starbase/router/native/).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -c constraints.txt . \
    && python -c "from starbase.router import native; assert native.available()" \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 starbase \
    && mkdir -p /data && chown starbase /data
USER starbase
ENTRYPOINT ["starbase"]

# The router: OTLP/HTTP on 4318 (also /firehose and /v1/raw), data under /data.
FROM base AS router
ENV STARBASE_DATA=/data
VOLUME /data
EXPOSE 4318
CMD ["router", "--host", "0.0.0.0", "--port", "4318", "--data", "/data"]

# The emitter: realistic traffic of the simulated shop, to the router by default.
FROM base AS emitter
CMD ["emit", "--mode", "otlp", "--scenario", "steady", "--rate", "200", "--endpoint", "http://router:4318/v1/logs"]
