"""Image builds from Dockerfiles: the parser (dockerfile), variable substitution and the builder."""
