"""The template image: a minimal Ubuntu 24.04 (noble) cloud-image root filesystem.

``runtime.LoopbackGuestRuntime`` lays this down on any disk that does not exist yet (the
template VM 9000 and its per-node siblings, or a VM created from scratch); clones copy it
(``clone_disk``); ``cloudinit.py`` personalises it on first boot. Only what homeport's
commands look at is here: os-release, sshd_config, users, ``/srv/apps``, ``/srv/backups``,
``/etc/systemd/system``.
"""

from __future__ import annotations

from .rootfs import GuestDisk

OS_RELEASE = """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
"""

LSB_RELEASE = """\
DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=24.04
DISTRIB_CODENAME=noble
DISTRIB_DESCRIPTION="Ubuntu 24.04.1 LTS"
"""

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
systemd-timesync:x:996:996:systemd Time Synchronization:/:/usr/sbin/nologin
messagebus:x:100:102::/nonexistent:/usr/sbin/nologin
systemd-resolve:x:992:992:systemd Resolver:/:/usr/sbin/nologin
sshd:x:105:65534::/run/sshd:/usr/sbin/nologin
"""

GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:syslog
sudo:x:27:
www-data:x:33:
users:x:100:
nogroup:x:65534:
systemd-journal:x:999:
systemd-network:x:998:
systemd-timesync:x:996:
messagebus:x:102:
systemd-resolve:x:992:
"""

SSHD_CONFIG = """\
# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

Include /etc/ssh/sshd_config.d/*.conf

#Port 22
#PermitRootLogin prohibit-password
#PubkeyAuthentication yes

# To disable tunneled clear text passwords, change to no here!
PasswordAuthentication no
#PermitEmptyPasswords no

KbdInteractiveAuthentication no

UsePAM yes

X11Forwarding yes
PrintMotd no

# Allow client to pass locale environment variables
AcceptEnv LANG LC_*

# override default of no subsystems
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
"""

CLOUDIMG_SSHD = "PasswordAuthentication no\n"

DIRECTORIES: tuple[tuple[str, int], ...] = (
    ("/etc/ssh/sshd_config.d", 0o755),
    ("/etc/systemd/system/multi-user.target.wants", 0o755),
    ("/etc/sudoers.d", 0o750),
    ("/home", 0o755),
    ("/root", 0o700),
    ("/srv/apps", 0o755),
    ("/srv/backups", 0o755),
    ("/tmp", 0o1777),
    ("/usr/bin", 0o755),
    ("/var/lib/tailscale", 0o700),
    ("/var/lib/cloud", 0o755),
    ("/var/log/journal", 0o2755),
    ("/run", 0o755),
)

FILES: tuple[tuple[str, str, int], ...] = (
    ("/etc/os-release", OS_RELEASE, 0o644),
    ("/etc/lsb-release", LSB_RELEASE, 0o644),
    ("/etc/hostname", "ubuntu\n", 0o644),
    ("/etc/hosts", "127.0.0.1 localhost\n", 0o644),
    ("/etc/passwd", PASSWD, 0o644),
    ("/etc/group", GROUP, 0o644),
    ("/etc/machine-id", "", 0o444),
    ("/etc/ssh/sshd_config", SSHD_CONFIG, 0o644),
    ("/etc/ssh/sshd_config.d/60-cloudimg-settings.conf", CLOUDIMG_SSHD, 0o600),
    ("/etc/default/locale", "LANG=C.UTF-8\n", 0o644),
    ("/etc/timezone", "Etc/UTC\n", 0o644),
)


def lay_down_template(disk: GuestDisk) -> None:
    """Create the template filesystem on an empty disk (idempotent)."""
    disk.root.mkdir(parents=True, exist_ok=True)
    for gpath, mode in DIRECTORIES:
        disk.make_dir(gpath, mode=mode)
    for gpath, text, mode in FILES:
        disk.write_file(gpath, text.encode(), mode=mode)
