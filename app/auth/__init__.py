"""REST API authentication: passwords, tokens, secrets policy, FastAPI dependencies."""
