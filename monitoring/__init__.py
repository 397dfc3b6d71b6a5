"""Monitoring and alerting as code: Prometheus rules, the Grafana dashboard, and a real
Prometheus for the local environment, all built from the same Python definitions."""
