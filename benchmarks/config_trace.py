"""Trace a scan's settings through the calls: which functions of the package receive the
`ScanConfig` or one of its stage views, in the order they are first called, and how often the
trace climbs back to a module it had left (issue 44's measure of how the settings flow).

    python benchmarks/config_trace.py [MEDIA ...] [--json runs/config-trace.json]

A *stop* is a function of ``forensics`` called with the config or a view of it (``Sampling``,
``FaceSearch``, ``Scoring``, ``Aggregation``, ``Evidence``) among its arguments, counted the
first time it is called; consecutive stops in one module are one visit. A visit *climbs back*
when its module was visited before and left. Default media: the sample astronaut photo and
clip, scanned by the embedded engine with the default suite, one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def trace(media: list[str], weights: str | None = None) -> list[tuple[str, str]]:
    """The (module, function) stops of a scan of ``media``, in first-call order; with ``weights``
    (a weights file or suite card for the scan), a function that receives that path is a stop
    too, so that the scorer's construction is followed through the models package."""
    from forensics.config import Aggregation, Evidence, FaceSearch, Sampling, ScanConfig, Scoring
    from forensics.runner import run_scan

    kinds = (ScanConfig, Sampling, FaceSearch, Scoring, Aggregation, Evidence)
    package = str(REPO / "forensics")
    stops: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def profile(frame, event, arg):  # noqa: ANN001 - sys.setprofile's signature
        if event != "call" or not frame.f_code.co_filename.startswith(package):
            return
        code = frame.f_code
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        values = [frame.f_locals.get(n) for n in names]
        if not any(isinstance(v, kinds) or (weights is not None and isinstance(v, (str, Path)) and str(v) == weights)
                   for v in values):
            return
        module = frame.f_globals.get("__name__", "?")
        key = (module, code.co_qualname)
        if key not in seen:
            seen.add(key)
            stops.append(key)

    with tempfile.TemporaryDirectory() as out:
        config = ScanConfig(threads=1, weights=weights)
        threading.setprofile(profile)
        sys.setprofile(profile)
        try:
            run_scan(media, config, Path(out) / "report.parquet", quiet=True)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    return stops


def visits(stops: list[tuple[str, str]]) -> tuple[list[str], int]:
    """The modules visited in order (consecutive stops in one module merged), and how many
    visits climb back to a module left before."""
    order: list[str] = []
    for module, _ in stops:
        if not order or order[-1] != module:
            order.append(module)
    back = sum(1 for k, module in enumerate(order) if module in order[:k])
    return order, back


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("media", nargs="*", default=[str(REPO / "examples/media/astronaut.jpg"),
                                                      str(REPO / "examples/media/astronaut-clip.mp4")])
    parser.add_argument("--weights", default=None, help="scan with these weights (default: the shipped suite), "
                        "and follow their path too")
    parser.add_argument("--json", type=Path, default=None, help="write the trace here")
    args = parser.parse_args()
    stops = trace(args.media, args.weights)
    for module, function in stops:
        print(f"  {module}: {function}")
    found = {}
    # the config's own accessors (a stage view derived on access) are stops too; the second
    # count leaves them out, to show how the calls themselves go
    for name, chosen in (("all stops", stops), ("without the config's accessors",
                                                [s for s in stops if s[0] != "forensics.config"])):
        order, back = visits(chosen)
        found[name] = {"stops": len(chosen), "visits": order, "climb_backs": back}
        print(f"{name}: {len(chosen)} stops in {len(order)} visits of {len(set(order))} modules; {back} visits "
              f"climb back to a module left before")
        print("  " + " -> ".join(m.removeprefix("forensics.") for m in order))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"trace": stops, **found}, indent=1) + "\n")


if __name__ == "__main__":
    main()
