"""The per-container monitor: a small process that holds a container's stdio, log and exit code.

berthd is never a container's parent. For every run of a container it starts a monitor
(``main.py`` here, as ``python -I -S main.py ...``), which detaches from berthd, becomes the
child subreaper of the container's processes, asks the isolation plugin's *launcher* to create
the container's init, and from then on serves berthd over ``monitor.sock`` in the container's
state directory: start, attach, resize, wait, exec, kill, state. It writes the container's
output to the json-file log, records the exit in ``exit.json`` and exits when the container and
every stream it carried are done. It survives berthd's death; a restarted berthd finds it again.

The monitor's own modules import only small parts of the standard library (no ``typing``,
``json``, ``socket``, ``signal``, ``dataclasses``: their imports alone would double its memory);
its resident size per container is a budget (about 10 MiB). Daemon-side code talks to it with
:mod:`berth.monitor.client`.
"""
