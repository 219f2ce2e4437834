"""Distribution: pull images from registries into the image store and push them back, through
the registry client plugin (``berth.registry.v1``)."""
