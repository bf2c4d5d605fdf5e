"""Random estates and random edits for the tests of reused per-file results: valid files
and files broken in every way validation knows (YAML, fields, secrets, references,
duplicates, data JSON cannot hold), with names drawn from small pools so that the
cross-object checks have something to say."""

from __future__ import annotations

from hypothesis import strategies as st

from homeport.source.validate import ValidationResult

NAMES = ["a", "b", "c"]
SECRET = "ghp_" + "Q7r2" * 9  # a GitHub token's shape: must never reach the cache


def machine(name: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {{name: m-{name}}}
spec: {{node: pve-{name}, capacity: {{cores: 8, memoryMiB: 16384}}}}
"""


def vm(name: str, machine: str, memory: int) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: vm-{name}}}
spec:
  machine: m-{machine}
  cores: 1
  memoryMiB: {memory}
  disk: {{sizeGiB: 8}}
"""


def app(name: str, vm: str, port: int, level: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: app-{name}}}
spec:
  vm: vm-{vm}
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: {port}
  env: {{LOG_LEVEL: {level}}}
"""


def route(name: str, app: str, host: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {{name: r-{name}}}
spec: {{host: {host}.example.com, app: app-{app}}}
"""


MERGED_VM = """apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: vm-{0}, labels: &l {{env: dev}}}}
spec:
  <<: {{machine: m-{0}, cores: {1}}}
  memoryMiB: 512
  cores: 2
  disk: {{sizeGiB: 8}}
"""
BROKEN = [
    "kind: VM\nmetadata: {name: vm-x\n",  # unclosed flow mapping
    "apiVersion: homeport.dev/v1alpha1\nkind: VM\nmetadata:\n\tname: x\n",  # a tab
    "apiVersion: homeport.dev/v1alpha1\nkind: Machine\nkind: VM\n",  # duplicate key
    "- just\n- a list\n",
    "apiVersion: homeport.dev/v1alpha1\nkind: Widget\nmetadata: {name: w}\n",
    "\x00\x01binary",
    "",
    "# only a comment\n---\n",
]

names = st.sampled_from(NAMES)
documents = st.one_of(
    st.builds(machine, names),
    st.builds(vm, names, names, st.sampled_from([512, 1024, 99999999, -1])),
    st.builds(
        app,
        names,
        names,
        st.sampled_from([8080, 8081, 0]),
        st.sampled_from(["info", "debug", SECRET, "'2024-01-01'", "2024-01-01"]),
    ),
    st.builds(route, names, names, st.sampled_from(["shop", "blog", "shop.internal"])),
    st.builds(MERGED_VM.format, names, st.sampled_from(["1", "many"])),
    st.builds(lambda n: vm(n, n, 512).replace("cores: 1", "cores: 1\n  colours: 3"), names),
    st.builds(lambda n: machine(n) + "  since: 2024-01-01\n", names),  # a date: not JSON
    st.sampled_from(BROKEN),
)
file_texts = st.lists(documents, min_size=1, max_size=3).map("---\n".join)
file_names = st.sampled_from([f"{d}{i}.yaml" for d in ("", "apps/") for i in range(6)])
estates = st.dictionaries(file_names, file_texts, min_size=1, max_size=6)
# An edit: files to write (new or changed) and files to delete.
edits = st.tuples(
    st.dictionaries(file_names, file_texts, max_size=3), st.lists(file_names, max_size=2)
)


def apply(estate: dict[str, str], edit: tuple[dict[str, str], list[str]]) -> dict[str, str]:
    written, deleted = edit
    after = {name: text for name, text in estate.items() if name not in deleted}
    return {**after, **written}


def as_files(estate: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(name, text.encode()) for name, text in sorted(estate.items())]


def outcome(result: ValidationResult) -> tuple[object, ...]:
    """Everything a caller sees: every message with its file:line, in order, and every
    object with where it came from and its whole model."""
    return (
        result.ok,
        result.files,
        [error.render() for error in result.errors],
        [(o.kind, o.name, o.file, o.line, o.resource.model_dump()) for o in result.objects],
    )
