"""How long the HTML review of a 10,000-media report takes to write, load and use.

    python benchmarks/bench_review.py [REPORT.parquet] [--rows 10000]

Takes a real report (default: scans examples/media with --html into a temporary folder), repeats
its rows under new names up to ``--rows`` (faces too), then times ``write_review`` and, where
Chromium and Playwright are installed, the page in headless Chromium: load until the table is
drawn, a sort by score, a text filter, and opening a media card.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from forensics.report.html import write_review
from forensics.report.schema import faces_path

REPO = Path(__file__).resolve().parents[1]


def enlarge(report: Path, rows: int, out: Path) -> Path:
    """``report`` with its rows repeated under new names to ``rows`` media (faces follow)."""
    media, faces = pq.read_table(report), pq.read_table(faces_path(report))
    copies = -(-rows // media.num_rows)
    paths = media.column("path").to_pylist()
    names = [f"batch{k:05d}/{Path(p).name}" for k in range(copies) for p in paths][:rows]
    big = pa.concat_tables([media] * copies).slice(0, rows).set_column(0, "path", pa.array(names))
    renamed: dict[str, list[str]] = {}
    for k, name in enumerate(names):
        renamed.setdefault(paths[k % len(paths)], []).append(name)
    face_rows = [dict(row, path=name) for row in faces.to_pylist() for name in renamed[row["path"]]]
    pq.write_table(big, out)
    pq.write_table(pa.Table.from_pylist(face_rows, schema=faces.schema), faces_path(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    report = args.report
    if report is None:
        report = work / "samples.parquet"
        subprocess.run([sys.executable, "-m", "forensics", "scan", str(REPO / "examples" / "media"), "--out", str(report),
                        "--html", str(work / "samples.html"), "--frames", "8", "--quiet"], check=True)
    big = enlarge(report, args.rows, work / "big.parquet")
    started = time.perf_counter()
    review = write_review(big, work / "big.html")
    write_s = time.perf_counter() - started
    size_mb = review.path.stat().st_size / 1e6
    print(f"write_review: {review.media} media, {review.faces} faces, {size_mb:.1f} MB page in {write_s:.2f} s")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("no Chromium/Playwright: browser timings skipped")
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(review.path.resolve().as_uri())
        page.wait_for_selector("#media tbody tr")
        load_s = time.perf_counter() - started
        timings = {}
        for name, action in [("sort by score", lambda: page.click("th[data-key=score]")),
                             ("filter by text", lambda: page.fill("#filter", "batch00042/")),
                             ("open a card", lambda: page.locator("#media tbody tr").first.click())]:
            started = time.perf_counter()
            action()
            page.wait_for_selector("#media tbody tr")
            timings[name] = time.perf_counter() - started
        browser.close()
    print(f"Chromium: page loaded and table drawn in {load_s:.2f} s; "
          + "; ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
