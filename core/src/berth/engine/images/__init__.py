"""The image store: blobs, manifests, layers by chain ID, image configs, tags, archives.

:class:`berth.engine.images.service.ImageService` is the facade the API uses; it is built by
the engine once a storage driver is active, under ``<data-root>/image/<driver>/``.
"""
