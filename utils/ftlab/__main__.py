"""The ``ftlab`` command line: ``python -m ftlab prefetch --profile NAME [--dry-run] [--ungated]``,
``python -m ftlab smoke [--cpu] [--stage NAME] [--out FILE]`` and ``python -m ftlab labs`` (every lab folder and its
pieces)."""

from __future__ import annotations

import argparse
import sys

from ftlab import labs, prefetch, profiles, smoke
from ftlab.profiles import PROFILES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m ftlab``."""
    parser = argparse.ArgumentParser(prog="python -m ftlab", description="Fine-Tuning Lab helpers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fetch = commands.add_parser(
        "prefetch", help="download a profile's hub models into the Hugging Face cache before class",
        description="Download a profile's hub models (safetensors, configs, tokenizer files) into the "
                    "Hugging Face cache ($HF_HOME) that the labs read.")
    fetch.add_argument("--profile", required=True, metavar="NAME", help=f"one of: {', '.join(PROFILES)}")
    fetch.add_argument("--dry-run", action="store_true",
                       help="list what would be downloaded, its size and the free disk; no network needed")
    fetch.add_argument("--ungated", action="store_true",
                       help="fetch the ungated alternatives instead of the gated (Llama) models")
    fetch.set_defaults(subparser=fetch)
    check = commands.add_parser(
        "smoke", help="check the course's GPU path in a few minutes and write one JSON record",
        description="Run the labs' core steps and real-shape training steps on this machine (a reduced form on a "
                    "CPU) and write one JSON record: environment, known problems, speed, memory against the estimate.")
    smoke.add_arguments(check)
    commands.add_parser("labs", help="list every lab folder with its pieces",
                        description="List every lab folder under labs/ (found by folder, as the tests find them) with "
                                    "its notebook, exercises, solution, checkers, knob and outcome thresholds.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 download failed, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "smoke":
        return smoke.main(args)
    if args.command == "labs":
        print(labs.describe())
        return 0
    try:
        profiles.get(args.profile)  # an unknown name is a usage error, in profiles.get's words
    except ValueError as error:
        args.subparser.error(str(error))
    cache_dir = prefetch.hub_cache_dir()
    downloads = prefetch.plan(args.profile, ungated=args.ungated, cache_dir=cache_dir)
    print(prefetch.describe(args.profile, downloads, cache_dir))
    if args.dry_run:
        print("Dry run: nothing was downloaded.")
        return 0
    try:
        folders = prefetch.run(downloads, cache_dir=cache_dir)
    except prefetch.PrefetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for folder in folders:
        print(f"ready: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
