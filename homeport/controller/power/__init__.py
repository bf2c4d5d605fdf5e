"""Estate power events: ``homeport estate shutdown [--layer N]`` and ``homeport estate start``.

Seed 003's ritual: stop user-facing → apps → core → infrastructure, start the other way,
each layer waiting for the previous one. ``layers.py`` decides (pure) which VMs each
layer holds and what a stopped VM takes with it (its Apps, the StandbyPairs with a
member there); ``holds.py`` keeps those from the reconcilers (``reconcilers/powerhold.py``);
``runner.py`` stops and starts layer by layer through the clients, recording every step
in the store (``store/power.py``) so that a run that died half-way resumes where it stopped.
"""

from homeport.controller.power.runner import EstatePower, PowerBusy, PowerError, PowerSettings

__all__ = ["EstatePower", "PowerBusy", "PowerError", "PowerSettings"]
