"""The bundled WebShop mini catalog and its generator (NOT WebShop data)."""
