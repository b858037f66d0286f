"""Entry point for ``ray job submit``: scan a path on the cluster, write the report to shared storage.

    ray job submit --address http://HEAD:8265 -- \
        python pipelines/scan_job.py /shared/media --out /shared/reports/scan.parquet \
            --thumbnails /shared/reports/thumbs --preset fast

It calls forensics' own ``run_scan`` with the Ray engine and address ``auto`` (the cluster the
job runs on). Media, weights, report and thumbnails paths must be on storage every node reads
(thumbnails: writes) at the same path; relative paths are made absolute against the job's
working directory. Exit status: 0 done, 2 bad arguments, 3 with ``--fail-on-fake`` when a
verdict is fake.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # presets.py beside this file

from presets import PRESETS, parse_setting, preset_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="media files and folders (shared storage)")
    parser.add_argument("--out", required=True, help="media report (.parquet); faces go beside it")
    parser.add_argument("--thumbnails", default=None, help="folder for annotated thumbnails (shared storage)")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="scan preset (default: default)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="override one ScanConfig setting, e.g. --set frames=16 (repeatable)")
    parser.add_argument("--weights", default=None, help="weights (.safetensors with its card) on shared storage")
    parser.add_argument("--address", default="auto", help="Ray cluster (default: auto, the job's cluster)")
    parser.add_argument("--workers", type=int, default=None, help="actors per model stage (default: fit the cluster)")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="GPUs per actor (default: 0.5 when the cluster has GPUs, else 0)")
    parser.add_argument("--fail-on-fake", action="store_true", help="exit 3 when any verdict is fake")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary in the job log")
    args = parser.parse_args(argv)

    from forensics.models.weights import WeightsError
    from forensics.runner import run_scan

    try:
        overrides = dict(parse_setting(s) for s in args.settings)
        if args.thumbnails:
            overrides["thumbnails"] = os.path.abspath(args.thumbnails)
        if args.weights:
            overrides["weights"] = os.path.abspath(args.weights)
        config = preset_config(args.preset, **overrides)
        outcome = run_scan([os.path.abspath(p) for p in args.paths], config, os.path.abspath(args.out),
                           quiet=args.quiet, ray_address=args.address, workers=args.workers,
                           gpus_per_worker=args.gpus_per_worker)
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {os.path.abspath(args.out)}: {outcome.media.num_rows} media, {outcome.fakes} fake, "
          f"on {len(outcome.nodes)} node(s), in {outcome.elapsed_s:.1f} s")
    return 3 if args.fail_on_fake and outcome.fakes else 0


if __name__ == "__main__":
    sys.exit(main())
