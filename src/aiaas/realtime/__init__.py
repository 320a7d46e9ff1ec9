"""WebSocket hub: per-connection bounded queues, backpressure policy, resume, cross-replica fan-out."""
