"""Queue-backed stateful persona backend."""
