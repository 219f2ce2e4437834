"""The `berth` command line: a thin click client of berthd (DESIGN.md §2).

Only click, the standard library, `berth.cli` and `berth.client` may be imported here, never
the engine, the daemon, the plugin API or their libraries: start-up time is budgeted.
"""
