"""REST API routers."""
