"""The container image recipe, checked without a Docker engine (none runs on these machines): what
the Dockerfile says and what .dockerignore lets into the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.chart.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE|AUTH", re.IGNORECASE)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    assert not pending, "dangling line continuation"
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            found.append([])
        assert found, "instructions before the first FROM"
        found[-1].append((keyword, args))
    return found


def test_base_image_is_a_pinned_slim_python_311() -> None:
    for stage in stages():
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image


def test_runs_as_a_numeric_non_root_user() -> None:
    final = stages()[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "runAsNonRoot can only verify a numeric UID"
    assert int(uid) > 0
    assert not gid or int(gid) > 0
    # Nothing after USER switches back to root.
    after = final[[k for k, _ in final].index("USER") :]
    assert all(keyword != "USER" or not args.startswith(("0", "root")) for keyword, args in after)


def test_entrypoint_is_zoom_operator_run_in_exec_form() -> None:
    entrypoints = [args for keyword, args in stages()[-1] if keyword == "ENTRYPOINT"]
    assert entrypoints, "no ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == ["zoom-operator", "run"]  # exec form: signals reach kopf
    assert not [args for keyword, args in stages()[-1] if keyword == "CMD"]  # the chart passes options


def test_no_secret_build_arguments_or_environment() -> None:
    for keyword, args in instructions():
        if keyword in ("ARG", "ENV", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_.-]*)=", args) or [args.split()[0]]
            for name in names:
                assert not SECRETISH.search(name), f"{keyword} {name}: secrets must never be build inputs"
        if keyword == "RUN":
            assert not re.search(r"(curl|wget)\s", args), "no downloads outside pip"
        if keyword == "ADD":
            pytest.fail("ADD fetches and unpacks: use COPY")
    assert not [args for keyword, args in instructions() if keyword == "ARG"], "no build arguments at all"


def test_pip_keeps_no_cache_and_installs_the_repository() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    pip_installs = [cmd for run in runs for cmd in run.split("&&") if re.search(r"\bpip install\b", cmd)]
    assert pip_installs, "the package must be installed with pip"
    for cmd in pip_installs:
        assert "--no-cache-dir" in shlex.split(cmd), cmd
    assert any(shlex.split(cmd)[-1] == "." for cmd in pip_installs), "pip install . (the repository)"
    envs = " ".join(args for keyword, args in instructions() if keyword == "ENV")
    assert "PIP_NO_CACHE_DIR=1" in envs
    assert not [run for run in runs if "--mount=type=cache" in run], "no build cache mounts"
    # The final image copies the installed environment only, never the build context.
    final_copies = [args for keyword, args in stages()[-1] if keyword == "COPY"]
    assert final_copies
    assert all(args.startswith("--from=") for args in final_copies)


def _context_files() -> list[str]:
    """The files .dockerignore lets into the build context (Docker's rules: last match wins)."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    included = []
    for path in tracked:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern[1:] if negate else pattern
            pat = pat.rstrip("/")
            parts = path.split("/")
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            pat_glob = pat.replace("**/", "*")
            if any(fnmatch.fnmatch(prefix, pat_glob) for prefix in prefixes):
                keep = negate
        if keep:
            included.append(path)
    return included


def test_build_context_holds_only_the_package_sources() -> None:
    files = _context_files()
    assert "pyproject.toml" in files
    assert "README.md" in files
    assert any(f.startswith("operator/zoom_operator/") for f in files)
    assert "operator/zoom_operator/simulator/default_state.yaml" in files  # package data
    for path in files:
        assert path in ("pyproject.toml", "README.md") or path.startswith("operator/"), path
        name = Path(path).name
        # Sources and package data only: no key, certificate, kubeconfig or .env file can slip in.
        assert re.search(r"\.(py|yaml)$|^py\.typed$|^README\.md$|^pyproject\.toml$", name), path
    # Every COPY source is in the context.
    for keyword, args in stages()[0]:
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in files), source
