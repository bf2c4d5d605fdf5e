"""Read models of the store shared by the CLI's read commands (``status``, ``get``,
``describe``) and the daemon's status page (``services/web``): one word per object's
state, its message, the ``status`` document, the daemons' liveness. Pure functions of
what the store holds (and a ``now``), never I/O of their own.
"""
