"""perfbeacon's own telemetry: timings, Prometheus metrics, traces and structured logs.

- ``middleware.TelemetryMiddleware``: pure ASGI, outermost; times, counts, traces and
  logs every request.
- ``service.Telemetry``: what the middleware and producers use, reachable as
  ``runtime.telemetry``; ``router``: ``GET /metrics``.
- ``logs``: structlog configuration and uvicorn's log config; ``tracing``: the
  OpenTelemetry SDK from ``OTEL_*`` variables; ``database``: db time per request and
  pool usage; ``multiproc``: the directory several workers share metrics through.
- ``latency``: the request latency histogram; ``access``: the access line;
  ``batch``: per-request work done once per event-loop iteration for all requests.

How other parts report (all methods keyword-only where they take arguments, and
cheap enough for the hot path; ``metrics = runtime.telemetry.metrics``,
``tracing = runtime.telemetry.tracing``):

- ingestion (wired in ``collector/ingest``): ``metrics.beacon_accepted()``,
  ``metrics.beacon_rejected(reason=...)``, ``metrics.metrics_accepted(metric="LCP",
  count=n)``, ``metrics.metric_rejected(metric=..., reason=...)``.
- the writer (wired in ``EventWriter``): ``metrics.set_writer_queue_depth(n)`` whenever
  the queue changes size, ``metrics.observe_writer_batch(size=n, commit_seconds=s)``
  after each commit; for traces, ``link = tracing.request_link()`` in the request when
  it enqueues, then around each batch
  ``with tracing.ingest_batch(links=links, size=n): with tracing.db_commit(rows=n): ...``.
- rollups: ``metrics.set_rollup_lag(seconds)``.
- budgets (wired in ``POST /api/v1/budgets/check``):
  ``metrics.budget_checked(verdict="pass" | "warn" | "fail")``.
- the live feed: ``metrics.websocket_connected()`` / ``metrics.websocket_disconnected()``.

Reasons and verdicts are free text cut to at most 32 distinct label values (the
rest count as ``other``); metric names outside the Web Vitals are ``other``.
"""
