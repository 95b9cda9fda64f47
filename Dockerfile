# perfbeacon: one image for the collector, API and dashboard.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY dashboard ./dashboard
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PERFBEACON_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/perfbeacon perfbeacon
# Runs as an unprivileged user; the default SQLite file lands in its home.
USER perfbeacon
WORKDIR /var/lib/perfbeacon
EXPOSE 8000
# /ready answers 200 only while the database is reachable.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"]
CMD ["perfbeacon", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
