# syntax=docker/dockerfile:1
# pkgindex: build the wheel and its dependencies in one stage; run them from a slim one.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Compilers for any dependency without a wheel for this platform; they stay in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
# The service and all its dependencies as wheels; the final stage installs only these.
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PKGINDEX_HOST=0.0.0.0 PKGINDEX_PORT=8000
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels pkgindex \
    && useradd --system --uid 10001 --home-dir /var/lib/pkgindex --create-home pkgindex
USER pkgindex
WORKDIR /var/lib/pkgindex
EXPOSE 8000
# Liveness from inside the container: the process answers /healthz (readiness is /readyz).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# Exec form: pkgindex is PID 1 and gets SIGTERM itself (graceful shutdown).
ENTRYPOINT ["pkgindex"]
CMD ["serve"]
