"""The simulated Proxmox VE HTTPS API (`/api2/json`), served by aiohttp.

`server` runs it; `routes_*` map PVE's paths onto the world model in `homeport.simulator.pve`.
"""
