"""Prefetch: plan, and then run, the downloads of a profile's hub models before the first session.

A classroom that opens Lab 01 at the same moment downloads the same 100+ GB at once; ``python -m ftlab
prefetch --profile spark`` fetches the weights ahead of time into the Hugging Face cache that the labs read.
``--dry-run`` needs no network: it lists the repositories, which are gated, their approximate size and the
disk free at the cache. Only safetensors weights, JSON configs and tokenizer files are fetched (never pickled
``.bin``/``.pth`` checkpoints), and nothing here runs code from a repository.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ftlab import profiles
from ftlab.profiles import TOY_MODEL

# What the labs load: safetensors weights, configs (incl. the shard index) and the tokenizer's files.
ALLOW_PATTERNS = ["*.safetensors", "*.json", "tokenizer.model", "merges.txt", "*.jinja"]

# Hub organisations whose models need an accepted licence (and a login) before they can be downloaded.
GATED_ORGS = frozenset({"meta-llama"})

# Approximate download size in GB (10**9 bytes) of the files above, bf16 weights. Parameters x 2 bytes.
KNOWN_SIZES_GB: dict[str, float] = {
    "meta-llama/Llama-3.2-3B-Instruct": 6.4,
    "meta-llama/Llama-3.1-8B-Instruct": 16.1,
    "meta-llama/Llama-3.1-70B-Instruct": 141.1,
    "Qwen/Qwen2.5-3B-Instruct": 6.2,
    "Qwen/Qwen2.5-7B-Instruct": 15.2,
    "Qwen/Qwen2.5-72B-Instruct": 145.4,
    "HuggingFaceTB/SmolLM2-135M-Instruct": 0.27,
}
BF16_GB_PER_BILLION_PARAMETERS = 2.0


class PrefetchError(RuntimeError):
    """A prefetch that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Download:
    """One hub repository a profile needs."""

    repo_id: str
    roles: tuple[str, ...]  # which of the profile's models it is, e.g. ("LoRA base", "QLoRA base")
    gated: bool
    size_gb: float | None  # approximate; None when unknown
    cached: bool  # a snapshot of it is already in the hub cache


def hub_cache_dir() -> Path:
    """The Hub cache the labs read: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub`` (default ``~/.cache/huggingface``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    xdg_cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or Path(xdg_cache) / "huggingface").expanduser() / "hub"


def free_disk_gb(path: Path) -> float:
    """Free space in GB on the file system that holds ``path`` (or would, once created)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 1e9


def is_gated(repo_id: str) -> bool:
    """True for repositories that need an accepted licence on the Hub (the Llama family)."""
    return repo_id.split("/", 1)[0] in GATED_ORGS


def approximate_size_gb(repo_id: str) -> float | None:
    """The download size from :data:`KNOWN_SIZES_GB`, else estimated from a ``<N>B`` in the name, else None."""
    if repo_id in KNOWN_SIZES_GB:
        return KNOWN_SIZES_GB[repo_id]
    match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)[Bb](?![a-zA-Z])", repo_id.split("/")[-1])
    return round(float(match.group(1)) * BF16_GB_PER_BILLION_PARAMETERS, 1) if match else None


def is_cached(repo_id: str, cache_dir: Path) -> bool:
    """True when the hub cache already holds a snapshot of ``repo_id`` (possibly an incomplete one)."""
    snapshots = cache_dir / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def plan(profile_name: str, ungated: bool = False, cache_dir: Path | None = None) -> list[Download]:
    """The hub repositories profile ``profile_name`` needs (none for ``toy``), without touching the network.

    ``ungated=True`` plans the ungated alternatives instead of the gated models. An unknown profile is
    ``profiles.get``'s error.
    """
    profile = profiles.get(profile_name)
    if ungated:
        profile = profile.without_gate()
    cache_dir = cache_dir or hub_cache_dir()
    roles: dict[str, list[str]] = {}
    for role, repo_id in (("LoRA base", profile.model_for("base")), ("QLoRA base", profile.model_for("qlora"))):
        if repo_id != TOY_MODEL:
            roles.setdefault(repo_id, []).append(role)
    return [Download(repo_id, tuple(r), is_gated(repo_id), approximate_size_gb(repo_id), is_cached(repo_id, cache_dir))
            for repo_id, r in roles.items()]


def bytes_to_fetch_gb(downloads: list[Download]) -> float:
    """Approximate GB still to download: the repositories not yet in the cache (unknown sizes count as 0)."""
    return sum(d.size_gb or 0.0 for d in downloads if not d.cached)


def describe(profile_name: str, downloads: list[Download], cache_dir: Path) -> str:
    """A human-readable plan: one line per repository, the total, and the free disk at the cache."""
    profile = profiles.get(profile_name)
    lines = [f"Prefetch plan for profile '{profile_name}' ({profile.description})"]
    if not downloads:
        lines.append("  nothing to download: the toy model is built locally by ftlab (no network needed)")
        return "\n".join(lines)
    width = max(len(d.repo_id) for d in downloads)
    role_width = max(len(" + ".join(d.roles)) for d in downloads)
    for d in downloads:
        size = f"~{d.size_gb:g} GB" if d.size_gb is not None else "size unknown"
        access = "GATED: accept the licence on the Hub, then `hf auth login`" if d.gated else "ungated"
        status = "  (already in the cache)" if d.cached else ""
        lines.append(f"  {d.repo_id:<{width}}  {' + '.join(d.roles):<{role_width}}  {size:>10}  {access}{status}")
    need, free = bytes_to_fetch_gb(downloads), free_disk_gb(cache_dir)
    lines.append(f"To download: ~{need:.0f} GB ({', '.join(ALLOW_PATTERNS)})")
    lines.append(f"Hub cache: {cache_dir} ({free:.0f} GB free)")
    if need > free:
        lines.append(f"NOT ENOUGH DISK: ~{need:.0f} GB needed, {free:.0f} GB free at {cache_dir}")
    if any(d.gated for d in downloads):
        lines.append("Gated models: request access on each model's Hub page, then log in with `hf auth login`; "
                     "or plan the ungated alternatives with --ungated.")
    return "\n".join(lines)


def run(downloads: list[Download], cache_dir: Path | None = None) -> list[Path]:
    """Download every planned repository into the hub cache; returns the snapshot folders.

    Refuses to start when the disk at the cache has less free space than the estimate. Each error names the
    repository and the fix (licence and login for gated models, ``HF_HUB_OFFLINE`` when downloads are off).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    cache_dir = cache_dir or hub_cache_dir()
    need, free = bytes_to_fetch_gb(downloads), free_disk_gb(cache_dir)
    if need > free:
        raise PrefetchError(f"not enough disk at {cache_dir}: ~{need:.0f} GB to download, {free:.0f} GB free; "
                            "free some space or point HF_HOME at a larger disk")
    folders = []
    for d in downloads:
        try:
            folders.append(Path(snapshot_download(d.repo_id, cache_dir=cache_dir, allow_patterns=ALLOW_PATTERNS)))
        except GatedRepoError as error:
            raise PrefetchError(f"{d.repo_id} is gated: accept its licence at https://huggingface.co/{d.repo_id}, "
                                "run `hf auth login`, and try again (access can take a while to be granted); "
                                "or prefetch the ungated alternatives with --ungated") from error
        except RepositoryNotFoundError as error:
            raise PrefetchError(f"{d.repo_id}: not found on the Hub, or this account cannot see it "
                                "(check `hf auth whoami`)") from error
        except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
            raise PrefetchError(f"{d.repo_id}: could not download (HF_HUB_OFFLINE=1 is set, or there is no "
                                "network); unset HF_HUB_OFFLINE and check the connection, or use --dry-run") from error
    return folders
