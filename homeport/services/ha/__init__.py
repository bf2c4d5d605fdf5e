"""Several control planes: leadership, shared state and git mirroring on etcd (docs/ha.md).

``planes.ControlPlanes`` wires the parts for the daemon; ``leadership`` elects one daemon
and fences it, ``replica`` writes the store's shared rows to etcd, ``follow`` and
``revision_follow`` keep every other plane's store warm, ``takeover`` is what a new leader
does before it acts, ``keys`` lays out the keyspace and ``status`` reads it for the CLI.
"""
