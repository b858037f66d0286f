"""How far two float results of the same scan may differ and still count as the same.

Float32 kernels give different last bits on another CPU, with another thread count, or with
another batch make-up (a face searched or scored alone or beside others): MTCNN's boxes then
move by a few millionths of a pixel, and a crop resampled from a box that moved can change by
one grey level where the interpolation rounds, which moves P(fake) by up to about 1e-4 (9.7e-5
measured between a photo scored alone and in a batch, 6.2e-5 between the two engines on 20
media). Discrete results (statuses, verdicts, track ids, face counts, paths) are compared
exactly everywhere; floats with these bounds, which sit far below what a reviewer would notice
(a score is shown to three decimals, a box is drawn in whole pixels) and far above float32
drift.
"""

BOX_ATOL_PX = 0.01
"""Boxes and landmarks of the same face, in original-frame pixels (drift measured: 8e-6 px)."""

SCORE_ATOL = 5e-4
"""P(fake) of the same face or media computed in another process, engine or batch make-up:
half of the last digit a report shows, five times the largest drift measured (9.7e-5)."""

ENGINE_SCORE_ATOL = 1e-6
"""P(fake) of the same media scanned by the two engines at one thread on the same machine: the
stages are the same code and, at one thread, neither MTCNN's boxes nor the classifier's scores
depend on which other photos or crops share their batch (measured: bit-identical), so only
float32 noise is allowed."""

SAME_BATCH_SCORE_ATOL = 1e-5
"""P(fake) of the same crops scored in the same batch make-up by two runtimes or two calls."""

DET_PROB_ATOL = 1e-4
"""MTCNN's face probability of the same face (float32, from the same drifting kernels)."""

COLUMN_ATOL = {"score": SCORE_ATOL, "x1": BOX_ATOL_PX, "y1": BOX_ATOL_PX, "x2": BOX_ATOL_PX, "y2": BOX_ATOL_PX,
               "landmarks": BOX_ATOL_PX, "det_prob": DET_PROB_ATOL}
"""Report columns computed by float32 kernels, and their tolerance; every other column is exact."""


def assert_same_table(got, want, where: str = "report", skip: tuple[str, ...] = ("elapsed_s",)) -> None:
    """Two report tables (``pyarrow.Table``) hold the same rows: the columns of
    :data:`COLUMN_ATOL` within their tolerance (nulls in the same places), all others equal."""
    import numpy as np

    assert got.schema.names == want.schema.names, where
    assert got.num_rows == want.num_rows, where
    for name in want.schema.names:
        if name in skip:
            continue
        a, b = got.column(name).to_pylist(), want.column(name).to_pylist()
        if name == "track_scores":  # per media, each track's ids and counts exact, its scores within SCORE_ATOL
            for mine, theirs in zip(a, b):
                assert [{k: v for k, v in t.items() if not k.startswith("score")} for t in mine] == \
                       [{k: v for k, v in t.items() if not k.startswith("score")} for t in theirs], f"{name} of {where}"
                for t, u in zip(mine, theirs):
                    for k in (k for k in t if k.startswith("score")):
                        assert (t[k] is None) == (u[k] is None) and (t[k] is None or abs(t[k] - u[k]) <= SCORE_ATOL), \
                            f"{name}.{k} of {where}: {t[k]} against {u[k]}"
            continue
        if name in COLUMN_ATOL:
            assert [x is None for x in a] == [x is None for x in b], f"column {name} of {where}: nulls differ"
            a, b = [x for x in a if x is not None], [x for x in b if x is not None]
            np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=0,
                                       atol=COLUMN_ATOL[name], err_msg=f"column {name} of {where}")
        else:
            assert a == b, f"column {name} of {where} differs"


PICTURE_MEAN_ATOL = 2.0
"""Mean absolute difference, in grey levels of 255, between two JPEG pictures of the same
evidence (a thumbnail or a kept crop) drawn by two engines: a crop resampled from a box that
moved by float32 noise differs by a grey level in places, and JPEG coding spreads that."""


def assert_same_picture(got, want, where: str = "picture") -> None:
    """Two picture files show the same thing: same size, pixels within :data:`PICTURE_MEAN_ATOL` on average."""
    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(p).convert("RGB"), np.float64) for p in (got, want))
    assert a.shape == b.shape, f"{where}: {a.shape} != {b.shape}"
    difference = float(np.abs(a - b).mean())
    assert difference <= PICTURE_MEAN_ATOL, f"{where}: pixels differ by {difference:.2f} grey levels on average"
