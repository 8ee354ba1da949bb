"""Pictures of fields as uint8 RGB arrays, drawn with numpy alone.

TensorBoard images must not need matplotlib (an optional extra), so heatmaps use a
table colormap and line plots a tiny rasteriser; both carry their value range written in
a 3x5 pixel font, since an image without a scale hides how large an error is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# viridis sampled at 9 evenly spaced points; linear interpolation in between
_VIRIDIS = np.array([
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)], dtype=np.float64)
OUTSIDE = (225, 225, 225)  # grid points outside the domain
WHITE, GREY, TEXT = (255, 255, 255), (160, 160, 160), (40, 40, 40)
COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]  # line series
_GLYPHS = {  # 3 wide x 5 tall, rows top to bottom
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "+": "000010111010000", "e": "000111111100111", " ": "000000000000000",
    "n": "000110101101101", "a": "000011101101011",
}
FONT_SCALE = 2


def colorize(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Values -> RGB through the colormap; NaN (outside the domain) -> light grey."""
    span = vmax - vmin if vmax > vmin else 1.0
    s = np.clip((np.nan_to_num(values, nan=vmin) - vmin) / span, 0.0, 1.0)
    pos = s * (len(_VIRIDIS) - 1)
    i = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    frac = (pos - i)[..., None]
    rgb = _VIRIDIS[i] * (1 - frac) + _VIRIDIS[i + 1] * frac
    rgb[np.isnan(values)] = OUTSIDE
    return np.round(rgb).astype(np.uint8)


def text(canvas: np.ndarray, row: int, col: int, label: str, color=TEXT) -> None:
    """Write ``label`` with its top-left corner at (row, col); clipped at the edges."""
    s = FONT_SCALE
    for k, ch in enumerate(label):
        bits = np.array([int(b) for b in _GLYPHS.get(ch, _GLYPHS[" "])]).reshape(5, 3)
        glyph = np.kron(bits, np.ones((s, s), dtype=int)).astype(bool)
        r0, c0 = row, col + k * 4 * s
        sub = canvas[r0:r0 + 5 * s, c0:c0 + 3 * s]
        sub[glyph[:sub.shape[0], :sub.shape[1]]] = color


def label_width(label: str) -> int:
    return len(label) * 4 * FONT_SCALE


def _fmt(v: float) -> str:
    return f"{v:.2e}" if np.isfinite(v) else "nan"


def heatmap(values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
            height: int = 256) -> np.ndarray:
    """A field on an (n0, n1) grid: input 0 to the right, input 1 upwards; with a scale bar."""
    finite = values[np.isfinite(values)]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    picture = colorize(values.T[::-1], lo, hi)  # rows: input 1 from top (high) to bottom
    k = max(1, height // picture.shape[0])
    picture = np.repeat(np.repeat(picture, k, axis=0), k, axis=1)
    h, w = picture.shape[:2]
    labels = (_fmt(hi), _fmt(lo))
    pad, bar = 8, 14
    canvas = np.full((h + 2 * pad, w + 3 * pad + bar + max(map(label_width, labels)) + pad, 3),
                     WHITE, dtype=np.uint8)
    canvas[pad:pad + h, pad:pad + w] = picture
    ramp = np.linspace(hi, lo, h)[:, None].repeat(bar, axis=1)
    c0 = 2 * pad + w
    canvas[pad:pad + h, c0:c0 + bar] = colorize(ramp, lo, hi)
    text(canvas, pad, c0 + bar + pad // 2, labels[0])
    text(canvas, pad + h - 5 * FONT_SCALE, c0 + bar + pad // 2, labels[1])
    return canvas


def line_plot(x: np.ndarray, series: Sequence[np.ndarray], size: tuple[int, int] = (256, 512)
              ) -> np.ndarray:
    """Curves y(x) in ``COLORS`` order on one axis, the y range written on the left."""
    ys = [np.asarray(y, dtype=np.float64) for y in series]
    finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.zeros(0)
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    labels = (_fmt(hi), _fmt(lo))
    h, w = size
    canvas = np.full((h, w, 3), WHITE, dtype=np.uint8)
    left, top = max(map(label_width, labels)) + 12, 10
    right, bottom = w - 10, h - 10
    canvas[top:bottom + 1, [left, right]] = GREY
    canvas[[top, bottom], left:right + 1] = GREY
    text(canvas, top, 4, labels[0])
    text(canvas, bottom - 5 * FONT_SCALE, 4, labels[1])
    cols = left + (x - x.min()) / max(float(np.ptp(x)), 1e-300) * (right - left)
    for y, color in zip(ys, COLORS, strict=False):
        rows = bottom - (y - lo) / (hi - lo) * (bottom - top)
        _polyline(canvas, rows, cols, color)
    return canvas


def _polyline(canvas: np.ndarray, rows: np.ndarray, cols: np.ndarray, color) -> None:
    """Connect consecutive finite points with 2-pixel lines."""
    ok = np.isfinite(rows) & np.isfinite(cols)
    for r0, c0, r1, c1, good in zip(rows[:-1], cols[:-1], rows[1:], cols[1:],
                                    ok[:-1] & ok[1:], strict=True):
        if not good:
            continue
        n = int(max(abs(r1 - r0), abs(c1 - c0))) + 2
        rr = np.round(np.linspace(r0, r1, n)).astype(int)
        cc = np.round(np.linspace(c0, c1, n)).astype(int)
        for dr in (0, 1):
            keep = (rr + dr >= 0) & (rr + dr < canvas.shape[0]) & (cc >= 0) & \
                (cc < canvas.shape[1])
            canvas[rr[keep] + dr, cc[keep]] = color
