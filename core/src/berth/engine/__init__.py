"""The engine: everything the daemon runs that is not HTTP — config, plugin host, events."""
