"""Dashboard routes, one module per page group."""
