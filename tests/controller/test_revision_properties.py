"""Property: over random revision sequences, the adopted state is always the last commit the
policy allows, applied whole; nothing that was never adopted is ever pruned.

The bare repository here has no hooks, so invalid commits reach the branch (as they would
with a missing hook) and the daemon's own validation must reject them.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.source.sources import GitSource
from testkit.gitwork import WorkClone

pytestmark = pytest.mark.integration
NAMES = ["a", "b", "c", "d", "e", "f"]


def manifest(name: str, cores: int) -> str:
    return (
        f"apiVersion: homeport.dev/v1alpha1\nkind: Machine\nmetadata: {{name: {name}}}\n"
        f"spec: {{node: n-{name}, capacity: {{cores: {cores}, memoryMiB: 1024}}}}\n"
    )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(NAMES), st.integers(1, 64)),
        st.tuples(st.just("remove"), st.sampled_from(NAMES)),
        st.tuples(st.just("rename"), st.sampled_from(NAMES)),
        st.tuples(st.just("invalid"), st.sampled_from(NAMES)),
        st.tuples(st.just("force"), st.sampled_from(NAMES), st.integers(1, 64)),
    ),
    min_size=1,
    max_size=6,
)


class Model:
    """The specification: what should be adopted after each push."""

    def __init__(self) -> None:
        self.adopted: dict[str, int] | None = None
        self.adopted_sha: str | None = None
        self.ever_adopted: set[str] = set()

    def push(self, sha: str, state: dict[str, int], *, valid: bool, descends: bool) -> None:
        if not valid:
            return
        if self.adopted is not None:
            removed = set(self.adopted) - set(state)
            if (
                not descends
                or (self.adopted and not state)
                or len(removed) > 0.5 * len(self.adopted)
            ):
                return
        self.adopted = dict(state)
        self.adopted_sha = sha
        self.ever_adopted |= set(state)


def run_sequence(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(
            ["git", "init", "-q", "--bare", "--initial-branch=main", str(root / "r.git")],
            check=True,
        )
        work = WorkClone(root / "r.git", root / "work")
        store = Store.open(root / "state.db")
        sync = RevisionSync(
            source=GitSource(root / "r.git"), store=store, clock=FakeClock(), max_prune_fraction=0.5
        )
        model = Model()
        state: dict[str, int] = {}
        files: dict[str, str] = {}
        try:
            for step, op in enumerate(ops):
                valid = True
                if op[0] == "set":
                    name, cores = str(op[1]), int(op[2])  # type: ignore[call-overload]
                    files.setdefault(name, f"{name}.yaml")
                    work.write(files[name], manifest(name, cores))
                    state[name] = cores
                elif op[0] == "remove" and op[1] in state:
                    work.remove(files.pop(str(op[1])))
                    del state[str(op[1])]
                elif op[0] == "rename" and op[1] in state:
                    new = f"moved/{op[1]}-{step}.yml"  # unique: a rename always moves the file
                    (work.path / "moved").mkdir(exist_ok=True)
                    work.git("mv", files[str(op[1])], new)
                    files[str(op[1])] = new
                elif op[0] == "invalid":
                    work.write(
                        "broken.yaml", manifest(str(op[1]), 1).replace("cores: 1", "cores: many")
                    )
                    valid = False
                elif op[0] == "force":
                    if work.git("rev-parse", "--verify", "HEAD~1", check=False).returncode == 0:
                        work.git("reset", "-q", "--soft", "HEAD~1")
                    name, cores = str(op[1]), int(op[2])  # type: ignore[call-overload]
                    files.setdefault(name, f"{name}.yaml")
                    work.write(files[name], manifest(name, cores))
                    state[name] = cores
                sha = work.commit(str(op))
                work.push(force=True)
                if not valid:
                    work.remove("broken.yaml")  # the next commit repairs it
                descends = (
                    model.adopted_sha is None
                    or work.git(
                        "merge-base", "--is-ancestor", model.adopted_sha, sha, check=False
                    ).returncode
                    == 0
                )
                model.push(sha, state, valid=valid, descends=descends)
                asyncio.run(sync.sync())
                live = {
                    o.name: o.manifest["spec"]["capacity"]["cores"]
                    for o in store.objects.all()
                    if not o.deleting
                }
                deleting = {o.name for o in store.objects.all() if o.deleting}
                assert live == (model.adopted or {}), (
                    f"after {op}: store {live} != spec {model.adopted}"
                )
                assert deleting <= model.ever_adopted
        finally:
            store.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
@example([("set", "a", 1), ("rename", "a"), ("rename", "a")])  # a file moved twice
def test_adopted_state_always_matches_the_policy(ops: list[tuple[object, ...]]) -> None:
    run_sequence(ops)
