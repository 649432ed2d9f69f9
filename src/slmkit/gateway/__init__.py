"""The OpenAI-compatible gateway (`slmkit serve`).

settings  host, port, body limit, what the request log keeps
schemas   request and response bodies (the OpenAPI schema is generated from them)
store     API keys (hashed) and the request log, one SQLite file in WAL mode
metrics   Prometheus counters and latency histograms
app       the FastAPI application: endpoints, auth, limits, routing headers
"""
