"""MongoDB persistence (motor). The only package that names collections."""
