"""What operators watch: per-turn log lines, Prometheus metrics and OpenTelemetry traces."""
