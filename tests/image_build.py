"""What `docker build -f deploy/Dockerfile` would put in the image, without a Docker engine: the
Dockerfile read into its stages, the stage that builds the wheel given exactly the files its
COPY lines take from the build context (what a clean clone holds, less .dockerignore), its
proto command and its `pip wheel` run there, and the wheel unpacked to import from with nothing
else of the repository on sys.path."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
# Where the project's dependencies are installed (this venv's site-packages).
THIRD_PARTY = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})


@dataclass
class Copy:
    sources: list[str]
    dest: str
    from_stage: str | None  # None: from the build context


@dataclass
class Stage:
    name: str
    base: str
    workdir: str = "/"
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    user: str = ""
    cmd: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, continued lines joined."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    parsed = []
    for line in joined:
        keyword, _, arguments = line.partition(" ")
        parsed.append((keyword.upper(), arguments.strip()))
    return parsed


def parse_dockerfile(text: str) -> dict[str, Stage]:
    """The stages by name (an unnamed stage is named by its index), in order."""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for keyword, arguments in instructions(text):
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            parent = stages.get(words[0])
            stage = Stage(name, words[0], parent.workdir if parent else "/")
            stages[name] = stage
            continue
        assert stage is not None, f"{keyword} before FROM"
        if keyword == "WORKDIR":
            stage.workdir = str(Path(stage.workdir, arguments))
        elif keyword == "COPY":
            words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            source_stage = next(
                (f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None
            )
            stage.copies.append(Copy(paths[:-1], paths[-1], source_stage))
        elif keyword == "RUN":
            stage.runs.append(arguments)
        elif keyword == "USER":
            stage.user = arguments
        elif keyword == "CMD":
            stage.cmd = json.loads(arguments)
    return stages


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and those it is built on (FROM another stage), nearest first."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


def tracked_files() -> list[str]:
    """What a clean clone holds once this work is committed: tracked files and new ones not
    ignored, never this work tree's build output (git ignores it)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [path for path in listed.split("\0") if path and (ROOT / path).is_file()]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore's rule: the last pattern that matches the path or a folder above it wins;
    `!` patterns let a path back in."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            ignored = not negated
    return ignored


def build_context() -> list[str]:
    """The files `docker build .` sends: tracked ones, less what .dockerignore leaves out."""
    ignore = ROOT / ".dockerignore"
    patterns = []
    if ignore.exists():
        for line in ignore.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                patterns.append(line.strip())
    return [path for path in tracked_files() if not dockerignored(path, patterns)]


def copy_from_context(stage: Stage, into: Path) -> None:
    """Lays out `into` as the stage's WORKDIR after its COPY lines from the build context
    (`COPY dir/ dest/` copies what is inside dir), of files in the context only."""
    context = build_context()
    for copy in stage.copies:
        if copy.from_stage is not None:
            continue
        assert not Path(copy.dest).is_absolute(), f"{copy.dest}: outside the WORKDIR"
        dest = into / copy.dest
        for source in copy.sources:
            prefix = source.rstrip("/")
            found = [p for p in context if p == prefix or p.startswith(prefix + "/")]
            assert found, f"COPY {source}: nothing of the build context matches"
            for path in found:
                if path == prefix:  # a file: into the folder dest/, or as dest
                    target = dest / Path(path).name if copy.dest.endswith("/") else dest
                else:  # a folder's content, under dest
                    target = dest / Path(path).relative_to(prefix)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / path, target)


def proto_command(stage: Stage) -> list[str]:
    """The stage's `protos/generate <python>`, the one stub command the Makefile runs too."""
    for run in stage.runs:
        for command in re.split(r"&&|;", run):
            words = shlex.split(command)
            if words and words[0] == "protos/generate":
                return words
    raise AssertionError(f"stage {stage.name} runs no protos/generate")


def wheel_stage(stages: dict[str, Stage]) -> Stage:
    (stage,) = [s for s in stages.values() if any("pip wheel" in run for run in s.runs)]
    return stage


def build_wheel(dockerfile_text: str, workdir: Path) -> Path:
    """The wheel as the Dockerfile's wheel stage builds it, from the files it copies only."""
    stage = wheel_stage(parse_dockerfile(dockerfile_text))
    source = workdir / "src"
    source.mkdir()
    copy_from_context(stage, source)
    command = proto_command(stage)
    generate = source / command[0]
    assert generate.exists(), f"{command[0]} is not copied into stage {stage.name}"
    done = subprocess.run(
        [str(generate), sys.executable], cwd=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    wheels = workdir / "wheels"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--disable-pip-version-check", "--quiet", "--wheel-dir", str(wheels), str(source)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("*.whl")
    return wheel


def unpack(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into)
    return into


def run_installed(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python *args` with the unpacked wheel and the third-party packages on sys.path and
    nothing of the repository: no site customisation (`-S`), so the venv's editable install of
    this project is not loaded either, and `cwd` far from the repository."""
    env = {"PYTHONPATH": ":".join([str(site), *THIRD_PARTY]), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-S", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
