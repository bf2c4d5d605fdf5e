"""Secrets reach the app byte for byte: a PEM key (secretEnv), non-ASCII and quoted values
(envFrom, env), deployed by the daemon to the simulated estate, whose systemd parses the
EnvironmentFile and the unit's ``Environment=`` lines by systemd's own rules.

Asserts on the environment the simulated app process was started with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testkit.harness import ROOT, EstateHarness

pytestmark = pytest.mark.integration

TRICKY = 'a "quoted" \\back\\slash, $HOME, `tick`, 100% and é'

MANIFEST = f"""\
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: shop-a}}
spec: {{machine: dell, disk: {{sizeGiB: 40}}}}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: shop-a}}
spec:
  vm: shop-a
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: 8080
  dataDir: /srv/shop-data
  env:
    TRICKY: '{TRICKY}'
  secretEnv:
    - {{name: TLS_KEY, secret: shop/tls.key}}
  envFrom:
    - {{secret: shop/production.env}}
"""

DOTENV = """\
GREETING="héllo wörld, ça va ?"
# a comment
export SINGLE='$NOT_EXPANDED "as is"'
MULTI="line one
line two"
"""


def pem_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


async def test_pem_key_and_non_ascii_values_reach_the_app_exactly(tmp_path: Path) -> None:
    key = pem_key()
    assert key.count("\n") >= 3
    async with EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h:
        secrets = h.settings.secrets.directory
        (secrets / "shop" / "tls.key").write_text(key)
        (secrets / "shop" / "production.env").write_text(DOTENV)
        machines = (ROOT / "manifests" / "machines" / "machines.yaml").read_text()
        await h.push({"manifests/machines.yaml": machines, "manifests/shop.yaml": MANIFEST})
        await h.start_daemon()
        await h.converged({"Machine", "VM", "App"}, timeout=120)

        assert h.estate.pve is not None and h.estate.guests is not None
        vmid = next(v.vmid for v in h.estate.pve.world.vms.values() if v.name == "shop-a")
        unit = h.estate.guests.guest(vmid).systemd.units["homeport-shop-a.service"]
        assert unit.app is not None
        env = unit.app.environment
        # secretEnv drops the file's final newline only
        assert env["TLS_KEY"] == key.rstrip("\n")
        assert env["GREETING"] == "héllo wörld, ça va ?"
        assert env["SINGLE"] == '$NOT_EXPANDED "as is"'
        assert env["MULTI"] == "line one\nline two"
        assert env["TRICKY"] == TRICKY
        assert env["HOMEPORT_DATA_DIR"] == "/srv/shop-data"
        assert env["PORT"] == "8080"
