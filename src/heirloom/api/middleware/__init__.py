"""Cross-cutting HTTP concerns: the ASGI middlewares `app.create_app` installs, and the
authentication and rate-limit budgets they share with the routes' dependencies.

Each module holds one concern: `body_limits` (the API key, then the body size, before a body is
read), `rate_limits` (the HTTP side of `services/abuse/rate_limits.py`: budgets spent per
request and the RateLimit header fields), `abuse` (answers fed to the abuse detector),
`security_headers` (headers on every answer, CORS), `request_metrics` (latency histograms) and
`authentication` (the key lookup the body middleware and the route dependency share).
"""
