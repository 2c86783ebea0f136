"""Operations: readiness, alerts, usage analytics, Prometheus metrics and logging."""
