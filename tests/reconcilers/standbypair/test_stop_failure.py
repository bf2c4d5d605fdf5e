"""The fence's timeline entry says what happened to the stop, not always "unreachable"."""

from __future__ import annotations

import pytest

from homeport.clients.errors import (
    OutcomeUnknown,
    ProxmoxError,
    TaskFailed,
    TaskTimeout,
    Unreachable,
)
from homeport.reconcilers.standbypair.stopfailure import stop_failure


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (
            ProxmoxError(500, "VM 1001 qmp command failed", operation="qemu.stop"),
            "node pve2 answered but refused to stop VM 1001 on pve2 (qemu.stop: 500",
        ),
        (Unreachable(595, "No route to host"), "node pve2 unreachable (595 No route to host)"),
        (OutcomeUnknown(504, "Gateway Timeout"), "the answer to the stop of VM 1001 on pve2"),
        (
            TaskFailed("UPID:pve2:1", "stop failed", ["got timeout"]),
            "the stop task of VM 1001 on pve2 failed",
        ),
        (TaskTimeout("UPID:pve2:1", 30.0), "was not confirmed within 30s"),
        (TimeoutError(), "the stop of VM 1001 on pve2 was not confirmed within 30s"),
    ],
)
def test_a_failed_stop_is_worded_as_it_happened(exc: BaseException, said: str) -> None:
    text = stop_failure("pve2", 1001, exc, 30.0)
    assert said in text
    if not isinstance(exc, Unreachable) or isinstance(exc, OutcomeUnknown):
        assert "unreachable" not in text
