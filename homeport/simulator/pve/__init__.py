"""The simulated Proxmox VE cluster's state and operations (the world model).

`world.World` holds nodes, storages, volumes, VMs, tasks and jobs; the sibling modules
implement PVE's operations on it (clone, config, power, backups, replication, HA, ...).
`proxmox_api` is the only caller from the outside; `faults` bends it on purpose.
"""
