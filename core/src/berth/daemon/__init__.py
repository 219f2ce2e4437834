"""berthd: the HTTP server speaking the Docker Engine API, and its routers."""
