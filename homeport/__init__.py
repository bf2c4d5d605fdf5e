"""homeport: a GitOps reconciling operator for Proxmox edge data centers.

Desired state lives in git as YAML manifests (``homeport.kinds``); the controller
(``homeport.controller``) adopts revisions from a source (``homeport.source``) and drives
per-kind reconcilers (``homeport.reconcilers``) that reach the world only through
``homeport.clients``. ``homeport.simulator`` is a stand-alone fake estate on loopback.
"""

__version__ = "0.1.0"
API_VERSION = "homeport.dev/v1alpha1"
