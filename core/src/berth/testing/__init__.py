"""Test helpers for berth and for plugin authors.

- :mod:`berth.testing.conformance`: the suites every driver's tests subclass;
- :mod:`berth.testing.fixtures`: pytest fixtures (``plugin_context``, ``fake_distribution``);
- :mod:`berth.testing.fake_dist`: installable-looking distributions made in a directory;
- :mod:`berth.testing.hookdoc`: the generator of ``docs/plugins/hooks.md``;
- :mod:`berth.testing.layertar`, :mod:`berth.testing.trees`, :mod:`berth.testing.mounts`,
  :mod:`berth.testing.loopfs`: layer tars, tree snapshots, the mount table and loop-mounted
  file systems, for storage drivers' tests.
- :mod:`berth.testing.registry`, :mod:`berth.testing.tokenserver`,
  :mod:`berth.testing.faultproxy`: a real ``docker-registry`` on 127.0.0.1 (plain, TLS with a
  test CA, htpasswd, or behind a token server), and a proxy that injects network faults, for
  registry clients' tests.

This package imports only the public plugin API (:mod:`berth.plugins`), pluggy, pytest and the
standard library, so that a third-party plugin can use it without the daemon.
"""
