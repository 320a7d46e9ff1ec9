"""The HTTP edge of the platform: middleware (request id, context, tracing, metrics, access log,
security headers, body limits, CORS), problem+json error handlers, metrics and API docs."""
