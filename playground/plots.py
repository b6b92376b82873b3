"""Figures and images the UI shows: pure functions of arrays, matplotlib on the Agg canvas, no shared state.

Per-stroke views must be fast, so the heavy part of a plot (1,000 scatter points, axes, legend) is
rendered once per model into a `Raster`, and each stroke only draws its bubble or bars on a copy.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from PIL import Image, ImageDraw, ImageFont

from vae.analysis import ellipse_points

DIGIT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
BUBBLE_COLOR = (0, 0, 0)
SAMPLE_COLOR = (0, 0, 0)  # black dots ringed in white: no digit's colour (a red sample looked like a 3)
SAMPLE_EDGE = (255, 255, 255)
CLIP_COLOR = (214, 39, 40)
MUSIGMA_LIMIT = 4.2  # the mu +- sigma axes; beyond it a bar is clipped and marked


# --- digits as pictures -----------------------------------------------------------

def digit_image(x: np.ndarray, scale: int = 8) -> np.ndarray:
    """One (28, 28) image in [0, 1] as uint8 (28*scale, 28*scale), white on black, crisp pixels."""
    img = (np.clip(np.asarray(x, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    return np.kron(img, np.ones((scale, scale), dtype=np.uint8))


def tile(images: np.ndarray, scale: int = 3, pad: int = 2, pad_value: int = 60) -> np.ndarray:
    """Images (N, 28, 28) as one row, or (R, C, 28, 28) as a grid, uint8, with thin grey gaps."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    r, c = images.shape[:2]
    cell = 28 * scale
    out = np.full((r * cell + (r + 1) * pad, c * cell + (c + 1) * pad), pad_value, dtype=np.uint8)
    for i in range(r):
        for j in range(c):
            y, x = pad + i * (cell + pad), pad + j * (cell + pad)
            out[y : y + cell, x : x + cell] = digit_image(images[i, j], scale)
    return out


def labelled_rows(rows: dict[str, np.ndarray], scale: int = 2, label_width: int = 120, under: dict[str, list[str]] | None = None,
                  pad: int = 2) -> np.ndarray:
    """Rows (or blocks) of digits, each with a text label on its left: {label: (N, 28, 28) or (R, C, 28, 28)} -> RGB uint8.
    `under`: for some one-row labels, a short text written under each of their digits (a measured value per digit)."""
    under = under or {}
    strips = [tile(v, scale=scale, pad=pad) for v in rows.values()]
    note_h = 20
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max(label_width, *(int(measure.textlength(k, font=_font(13))) + 12 for k in rows))  # a long label widens it
    width = label_width + max(s.shape[1] for s in strips)
    out = Image.new("RGB", (width, sum(s.shape[0] + (note_h if k in under else 0) for k, s in zip(rows, strips))), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    y = 0
    cell = 28 * scale + pad
    for label, strip in zip(rows, strips):
        out.paste(Image.fromarray(strip).convert("RGB"), (label_width, y))
        draw.text((6, y + strip.shape[0] // 2), label, fill=(0, 0, 0), font=_font(13), anchor="lm")
        y += strip.shape[0]
        if label in under:
            for i, text in enumerate(under[label]):
                draw.text((label_width + pad + i * cell + 14 * scale, y + 3), text, fill=(0, 0, 0), font=_font(12), anchor="mt")
            y += note_h
    return np.asarray(out)


def _font(size: int = 13):
    return ImageFont.load_default(size=size)


def tick_values(values: np.ndarray) -> np.ndarray:
    """The whole numbers within a grid's axis values (-3 ... 3): where its tick labels go."""
    return np.arange(np.ceil(values.min()), np.floor(values.max()) + 1)


GRID_MARGINS = (58, 6, 6, 44)  # px around a latent grid for its axes: left, top, right, bottom


def with_grid_axes(img: np.ndarray, values: np.ndarray, x_label: str, y_label: str, scale: int = 2, pad: int = 2) -> np.ndarray:
    """A grid tiled by `tile(grid, scale, pad)` (row 0 at the top = the largest value on y) framed by its axes: tick
    labels at the whole values below (x, left to right) and on the left (y, bottom to top), and the axes' names."""
    img = Image.fromarray(np.asarray(img)).convert("RGB")
    left, top, right, bottom = GRID_MARGINS
    out = Image.new("RGB", (img.width + left + right, img.height + top + bottom), (255, 255, 255))
    out.paste(img, (left, top))
    draw, font = ImageDraw.Draw(out), _font(13)
    cell, n = 28 * scale + pad, len(values)

    def centre(v):  # pixel offset of value v's cell centre along an axis
        return pad + np.interp(v, values, np.arange(n)) * cell + 14 * scale

    for v in tick_values(values):
        x = left + centre(v)
        draw.line([x, top + img.height, x, top + img.height + 5], fill=(0, 0, 0), width=1)
        draw.text((x, top + img.height + 7), f"{v:g}", fill=(0, 0, 0), font=font, anchor="mt")
        y = top + img.height - centre(v)
        draw.line([left - 6, y, left - 1, y], fill=(0, 0, 0), width=1)
        draw.text((left - 8, y), f"{v:g}", fill=(0, 0, 0), font=font, anchor="rm")
    draw.text((left + img.width / 2, out.height - 4), x_label + ", growing to the right", fill=(0, 0, 0), font=font, anchor="mb")
    label = Image.new("RGB", (img.height, 18), (255, 255, 255))
    ImageDraw.Draw(label).text((img.height / 2, 9), y_label + ", growing upwards", fill=(0, 0, 0), font=font, anchor="mm")
    out.paste(label.rotate(90, expand=True), (4, top))
    return np.asarray(out)


def grid_value_at(px: tuple[float, float], values: np.ndarray, scale: int = 2, pad: int = 2) -> tuple[float, float] | None:
    """The inverse of with_grid_axes' layout: the (x, y) axis values of the cell under pixel `px` of a framed grid (the
    cell's centre, so a click lands exactly on a digit of the grid), or None for a pixel outside the cells."""
    left, top, _, _ = GRID_MARGINS
    n, cell = len(values), 28 * scale + pad
    col, row = (px[0] - left - pad) / cell, (px[1] - top - pad) / cell
    if not (0 <= col < n and 0 <= row < n):
        return None
    return float(values[int(col)]), float(values[n - 1 - int(row)])  # row 0 at the top: the largest y


def with_column_values(img: np.ndarray, values: np.ndarray, label_width: int, scale: int = 2, pad: int = 2, caption: str = "") -> np.ndarray:
    """A labelled_rows strip with the value of each column written above it (and a caption on the left)."""
    img = Image.fromarray(np.asarray(img)).convert("RGB")
    head = 22
    out = Image.new("RGB", (img.width, img.height + head), (255, 255, 255))
    out.paste(img, (0, head))
    draw, font = ImageDraw.Draw(out), _font(12)
    cell = 28 * scale + pad
    for i, v in enumerate(values):
        draw.text((label_width + pad + i * cell + 14 * scale, head - 4), f"{v:+g}" if v else "0", fill=(0, 0, 0), font=font, anchor="mb")
    if caption:
        draw.text((6, head - 4), caption, fill=(0, 0, 0), font=font, anchor="lb")
    return np.asarray(out)


# --- rendered plots with a known data -> pixel map ------------------------------------------

@dataclass(frozen=True)
class Raster:
    """A rendered one-axes figure and the affine map from its data coordinates to image pixels."""

    image: np.ndarray  # (H, W, 3) uint8
    scale: np.ndarray  # (2,) pixels per data unit along x and y (y negative: rows grow downwards)
    offset: np.ndarray  # (2,)
    limits: np.ndarray  # ((xmin, xmax), (ymin, ymax)) of the axes, in data units

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(xy, dtype=np.float64) * self.scale + self.offset

    def to_data(self, px: np.ndarray) -> np.ndarray:
        """The inverse of to_pixels: image pixels (x right, y down) to data coordinates."""
        return (np.asarray(px, dtype=np.float64) - self.offset) / self.scale

    def contains(self, xy: np.ndarray) -> bool:
        """Whether every point (N, 2) falls inside the axes."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        (x0, x1), (y0, y1) = self.limits
        return bool(((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)).all())


def plane_map(raster: Raster, name: str) -> dict:
    """What a click on a rendered plane needs, as plain numbers (it travels in the visitor's State): the raster's affine
    map from plane coordinates to pixels, its axes' limits, and the model whose plane it is."""
    return {"scale": raster.scale.tolist(), "offset": raster.offset.tolist(), "limits": raster.limits.tolist(), "model": name}


def point_on_plane(plane: dict, px) -> np.ndarray | None:
    """The plane coordinates (2,) under pixel `px` (x, y) of the picture `plane` describes, or None off its axes."""
    raster = Raster(None, np.asarray(plane["scale"]), np.asarray(plane["offset"]), np.asarray(plane["limits"]))
    xy = raster.to_data(np.asarray(px, dtype=np.float64))
    return xy if raster.contains(xy) else None


def mark_point(picture: np.ndarray, px, radius: int = 8) -> np.ndarray:
    """A copy of a latent map's picture (grey or RGB) with a red ring at pixel px (x, y): the point a click decoded."""
    img = Image.fromarray(np.asarray(picture)).convert("RGB")
    x, y = float(px[0]), float(px[1])
    ImageDraw.Draw(img).ellipse([x - radius, y - radius, x + radius, y + radius], outline=(230, 20, 20), width=3)
    return np.asarray(img)


def stacked_maps(maps: list[list[dict]], heights: list[int]) -> list[dict]:
    """The plane_maps of pictures stacked top to bottom (np.vstack), each moved down by the heights above it."""
    out, top = [], 0
    for group, height in zip(maps, heights):
        out += [{**m, "offset": [m["offset"][0], m["offset"][1] + top]} for m in group]
        top += height
    return out


def axes_maps(fig: Figure, names: list[str]) -> list[dict]:
    """plane_map of each of a drawn figure's first axes, named in order (one map per panel, for clicks on any of them)."""
    h = fig.canvas.get_width_height()[1]
    return [plane_map(axes_raster(ax, h), name) for ax, name in zip(fig.axes, names)]


def axes_raster(ax, height: int, image: np.ndarray | None = None) -> Raster:
    """The affine map from `ax`'s data coordinates to the pixels of its drawn figure (`height` px tall)."""
    p0, p1 = ax.transData.transform([[0.0, 0.0], [1.0, 1.0]])  # display coords, origin bottom-left
    scale = np.array([p1[0] - p0[0], -(p1[1] - p0[1])])
    offset = np.array([p0[0], height - p0[1]])
    return Raster(image, scale, offset, np.array([ax.get_xlim(), ax.get_ylim()]))


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_to_image(fig: Figure) -> np.ndarray:
    """(H, W, 3) uint8 of a figure drawn on its Agg canvas."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def rasterize(fig: Figure, ax) -> Raster:
    image = figure_to_image(fig)
    return axes_raster(ax, image.shape[0], image)


def scatter_digits(ax, xy: np.ndarray, labels: np.ndarray, size: float = 7, legend: bool = True) -> None:
    """One point per code, coloured by digit; a single PathCollection so the figure is quick to draw."""
    colors = np.array(DIGIT_COLORS)[np.asarray(labels) % 10]
    ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=size, alpha=0.7, linewidths=0)
    if legend:
        for d in range(10):
            ax.scatter([], [], c=DIGIT_COLORS[d], s=20, label=str(d))
        ax.legend(loc="upper right", fontsize=7, ncol=2, handletextpad=0.1, columnspacing=0.4, framealpha=0.8, title="digit", title_fontsize=7)


def bubble_background(pca_xy: np.ndarray, labels: np.ndarray, prior_center: np.ndarray, title: str = "", size: tuple[float, float] = (4.6, 4.4),
                      include: np.ndarray | None = None, half_width: float | None = None,
                      axis_names: tuple[str, str] = ("PC 1", "PC 2")) -> tuple[Figure, Raster]:
    """The model's test codes on their PCA plane, with the N(0, I) prior's 1- and 2-sigma circles. The axes fit the
    codes and the points `include` (an unusual input's bubble), or with `half_width` are a fixed window of that
    half-width around the prior's centre (the Train tab's one scale for every epoch and run), codes outside it drawn
    on its edge as open rings and counted in the title."""
    fig = new_figure(*size)
    ax = fig.add_subplot()
    if half_width is None:
        scatter_digits(ax, pca_xy, labels)
    else:
        offset = pca_xy - prior_center
        inside = np.abs(offset).max(1) <= half_width
        scatter_digits(ax, pca_xy[inside], np.asarray(labels)[inside])
        if (~inside).any():  # pulled onto the window's edge along their direction from the prior's centre
            edge = prior_center + offset[~inside] * (half_width / np.abs(offset[~inside]).max(1))[:, None]
            ax.scatter(edge[:, 0], edge[:, 1], s=14, facecolors="none", edgecolors=np.array(DIGIT_COLORS)[np.asarray(labels)[~inside] % 10], linewidths=0.8)
            title = f"{title}\n{int((~inside).sum())} of {len(pca_xy)} codes beyond the window, ringed on its edge"
    for k, style in ((1, "-"), (2, "--")):
        ax.add_patch(Circle(prior_center, k, fill=False, ls=style, lw=1.2, color="0.35"))
    ax.annotate("prior N(0, I)", prior_center + np.array([0.72, 2.0]), fontsize=7, color="0.35")
    if half_width is None:
        extent = pca_xy if include is None else np.vstack([pca_xy, np.asarray(include).reshape(-1, 2)])
        lo = np.minimum(extent.min(0), prior_center - 2.2)
        hi = np.maximum(extent.max(0), prior_center + 2.2)
    else:
        lo, hi = prior_center - half_width, prior_center + half_width
    pad = 0.06 * (hi - lo).max()
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(axis_names[0], fontsize=8)
    ax.set_ylabel(axis_names[1], fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    return fig, rasterize(fig, ax)


def draw_bubble(raster: Raster, center: np.ndarray, cov: np.ndarray, samples_xy: np.ndarray | None = None) -> np.ndarray:
    """The input's bubble on the cached scatter: 1- and 2-sigma ellipses of q(z|x), mu as a cross, samples as dots."""
    img = Image.fromarray(raster.image)
    draw = ImageDraw.Draw(img)
    for k, width in ((1, 3), (2, 2)):
        pts = raster.to_pixels(ellipse_points(center, cov, k, n=120))
        draw.line([tuple(p) for p in pts] + [tuple(pts[0])], fill=BUBBLE_COLOR, width=width)
    if samples_xy is not None:
        for p in raster.to_pixels(samples_xy):
            draw.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=SAMPLE_COLOR, outline=SAMPLE_EDGE, width=1)
    cx, cy = raster.to_pixels(center)
    draw.line([cx - 8, cy, cx + 8, cy], fill=BUBBLE_COLOR, width=3)
    draw.line([cx, cy - 8, cx, cy + 8], fill=BUBBLE_COLOR, width=3)
    return np.asarray(img)


def musigma_background(n_dims: int, title: str, size: tuple[float, float] = (6.4, 2.6)) -> tuple[Figure, Raster]:
    """Empty axes for mu +- sigma of each dimension, sorted by KL, with the prior's band."""
    fig = new_figure(*size)
    ax = fig.add_subplot()
    ax.axhspan(-1, 1, color="0.9", zorder=0, label="prior: 0 +- 1")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlim(-1, n_dims)
    ax.set_ylim(-MUSIGMA_LIMIT, MUSIGMA_LIMIT)
    ax.set_xlabel("latent dimension, sorted by KL (most informative on the left)", fontsize=8)
    ax.set_ylabel("mu +- sigma", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig, rasterize(fig, ax)


def draw_musigma(raster: Raster, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Error bars mu +- sigma at x = 0..D-1 on the cached axes; a bar reaching past the axes is cut at its edge, and a mu
    beyond it is drawn as a red triangle on the edge pointing the way it went (clipped_note gives the true range)."""
    img = Image.fromarray(raster.image)
    draw = ImageDraw.Draw(img)
    lim = MUSIGMA_LIMIT
    x = np.arange(len(mu), dtype=np.float64)
    lo = raster.to_pixels(np.stack([x, np.clip(mu - sigma, -lim, lim)], 1))
    hi = raster.to_pixels(np.stack([x, np.clip(mu + sigma, -lim, lim)], 1))
    mid = raster.to_pixels(np.stack([x, np.clip(mu, -lim, lim)], 1))
    half = max(1.0, min(3.0, 0.3 * abs(raster.scale[0])))
    tip = max(3.0, half + 1)
    for a, b, m, value in zip(lo, hi, mid, mu):
        draw.line([a[0], a[1], b[0], b[1]], fill=(31, 119, 180), width=max(1, int(half)))
        if abs(value) > lim:  # a triangle on the edge, pointing out of the axes
            out = -1 if value > 0 else 1  # pixel rows grow downwards
            draw.polygon([(m[0] - tip, m[1] - out * 2 * tip), (m[0] + tip, m[1] - out * 2 * tip), (m[0], m[1])], fill=CLIP_COLOR)
        else:
            draw.rectangle([m[0] - half, m[1] - 1.5, m[0] + half, m[1] + 1.5], fill=(0, 0, 0))
    return np.asarray(img)


def clipped_note(mu: np.ndarray) -> str:
    """The sentence that gives the true range of mu when some lie beyond the mu +- sigma axes ('' when none do)."""
    mu = np.asarray(mu)
    n = int((np.abs(mu) > MUSIGMA_LIMIT).sum())
    if n == 0:
        return ""
    return (f"{n} of the {len(mu)} mu lie beyond the chart's +-{MUSIGMA_LIMIT:g} (red triangles at its edge); "
            f"mu runs from {mu.min():.1f} to {mu.max():.1f}.")


def grid_with_marker(tiled: np.ndarray, values: np.ndarray, point: tuple[float, float], scale: int = 2, pad: int = 2) -> np.ndarray:
    """A latent grid tiled by `tile(grid, scale, pad)`, as RGB with a red ring where (z_x, z_y) = point falls."""
    img = Image.fromarray(tiled).convert("RGB")
    n = len(values)
    cell = 28 * scale + pad

    def to_px(v, flip):
        # cell centres sit at pad + i*cell + 14*scale for values[i]; interpolate linearly between them
        i = np.interp(v, values, np.arange(n))
        i = n - 1 - i if flip else i
        return pad + i * cell + 14 * scale

    x, y = to_px(point[0], False), to_px(point[1], True)
    draw = ImageDraw.Draw(img)
    r = 14 * scale
    draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 40, 40), width=3)
    return np.asarray(img)


def regime_scatter(panels: dict[str, tuple[np.ndarray, np.ndarray]], title: str, shared_scale: bool, notes: dict[str, str] | None = None) -> Figure:
    """Side-by-side scatters {model: (xy, labels)}; one shared scale makes differences in spread visible."""
    fig = new_figure(4.2 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), sharex=shared_scale, sharey=shared_scale, squeeze=False)[0]
    for ax, (name, (xy, labels)) in zip(axes, panels.items()):
        scatter_digits(ax, xy, labels, size=5, legend=ax is axes[-1])
        if notes and name in notes:
            ax.text(0.5, 0.5, notes[name], transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.3",
                    bbox=dict(facecolor="white", alpha=0.85, edgecolor="0.7"))
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
    if shared_scale:
        lim = max(np.abs(xy).max() for xy, _ in panels.values()) * 1.05
        axes[0].set_xlim(-lim, lim)
        axes[0].set_ylim(-lim, lim)
    fig.suptitle(title, fontsize=10)
    return fig


# --- the Train tab's live figures -----------------------------------------------------------------------------

RECON_COLOR, KL_COLOR = "#1f77b4", "#d62728"


def kl_bars(kl_per_dim: np.ndarray, active: np.ndarray, title: str = "", size: tuple[float, float] = (6.4, 2.6)) -> np.ndarray:
    """KL of each latent dimension to the prior (nats, mean over the held-out digits), sorted, active units coloured."""
    order = np.argsort(-kl_per_dim)
    fig = new_figure(*size)
    ax = fig.add_subplot()
    colors = np.where(np.asarray(active)[order], KL_COLOR, "0.65")
    ax.bar(np.arange(len(order)), kl_per_dim[order], color=colors, width=0.85)
    ax.bar([], [], color=KL_COLOR, label="active unit")
    ax.bar([], [], color="0.65", label="inactive (at the prior)")
    ax.set_xlim(-1, len(order))
    return _finished(fig, ax, "latent dimension, sorted by KL", "KL (nats)", title)


def _finished(fig: Figure, ax, x_label: str, y_label: str, title: str) -> np.ndarray:
    """The Train tab figures' common finish: axis names, small ticks, legend top right, title; as an image."""
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title, fontsize=9)
    return figure_to_image(fig)


# --- the rate-distortion plane ------------------------------------------------------------------------------

# Where a model sits on the plane names its regime. Collapse: KL under 0.5 nats per digit, the DESIGN's definition
# (z says next to nothing about the input). No KL force: more than 200 nats per digit, over twice what a good VAE
# needs to describe a whole MNIST digit (its negative log-likelihood is about 80-100 nats, Kingma & Welling 2014;
# Burda et al. 2016): rate beyond that buys no better drawing, only codes spread far beyond the prior.
COLLAPSE_KL = 0.5
NO_KL_KL = 200.0
REGIONS = (("collapsed", "#f4cccc"), ("healthy: the forces in balance", "#d9ead3"), ("no KL force", "#cfe2f3"))
PRESET_COLOR, RUN_COLOR, RUN_TEXT_COLOR = "#333333", "#e69138", "#8a4504"


@dataclass
class PlanePoint:
    """One finished model on the rate-distortion plane."""

    label: str
    kl: float  # rate: KL(q(z|x) || N(0, I)) in nats per held-out digit
    mse: float  # distortion: squared error per pixel of the reconstruction from mu (comparable across likelihoods)
    beta_eff: float  # 2 sigma^2 beta for the Gaussian likelihood, beta itself for Bernoulli
    own: bool = False  # one of the visitor's runs (drawn apart from the presets)


def rate_distortion(points: list[PlanePoint], title: str = "", size: tuple[float, float] = (6.4, 4.2)) -> np.ndarray:
    """Every model as a point of KL (x, symmetric-log: 0 to thousands of nats) against reconstruction error (y),
    labelled by beta_eff, over the three regions: collapsed, healthy, no KL force."""
    fig = new_figure(*size)
    ax = fig.add_subplot()
    x_max = max([NO_KL_KL * 10] + [p.kl * 3 for p in points])
    y_max = max([0.1] + [p.mse * 1.25 for p in points])
    ax.set_xscale("symlog", linthresh=0.1, linscale=0.5)
    edges = (0.0, COLLAPSE_KL, NO_KL_KL, x_max)
    for (name, color), lo, hi in zip(REGIONS, edges[:-1], edges[1:]):
        ax.axvspan(lo, hi, color=color, zorder=0, lw=0)
        ax.text((lo * hi) ** 0.5 if lo > 0 else hi / 4, y_max * 0.97, name, ha="center", va="top", fontsize=7.5, color="0.25", wrap=True)
    for p in points:
        color, marker = (RUN_COLOR, "*") if p.own else (PRESET_COLOR, "o")
        ax.scatter([p.kl], [p.mse], color=color, marker=marker, s=110 if p.own else 40, zorder=3, edgecolors="white", linewidths=0.6)
        # presets labelled above their point, runs below, so a run landing beside a preset does not cover its label;
        # near the right edge (the autoencoder) the label goes below-left, clear of a healthy model at the same error
        right = p.kl > NO_KL_KL * 3
        ax.annotate(f"{p.label}, beta_eff {p.beta_eff:.3g}", (p.kl, p.mse), xytext=(-6 if right else 6, -11 if p.own or right else 5),
                    textcoords="offset points", ha="right" if right else "left", fontsize=6.5, zorder=4, color=RUN_TEXT_COLOR if p.own else color)
    ax.scatter([], [], color=PRESET_COLOR, marker="o", s=40, label="presets")
    ax.scatter([], [], color=RUN_COLOR, marker="*", s=110, label="your runs")
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, y_max)
    ax.set_xlabel("rate: KL to the prior (nats per digit, log scale above 0.1)", fontsize=8)
    ax.set_ylabel("distortion: squared error per pixel", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(loc="lower left", fontsize=7)  # low rate and low error together is where no model can be
    ax.set_title(title, fontsize=9)
    return figure_to_image(fig)


# --- the prior against the codes (the Prior tab) ----------------------------------------------------------------

HOLE_COLOR = "0.15"


def prior_against_codes(title: str, codes_xy: np.ndarray, prior_center: np.ndarray, grid: tuple[np.ndarray, np.ndarray, np.ndarray], hole_log: float,
                        classes: dict[int, tuple[np.ndarray, np.ndarray]], axis_names: tuple[str, str] = ("PC 1", "PC 2"),
                        size: tuple[float, float] = (8.8, 4.3), name: str = "") -> tuple[np.ndarray, list[dict]]:
    """Two panels on one plane. Left: the training codes (grey), the edge of where they live (the codes' density at
    `hole_log`, its log) and, shaded, the holes: inside the prior's 2-sigma circle, where that density is lower.
    Right: each digit class as its own Gaussian (2-sigma ellipse, at its mean the digit), against the prior's circles.
    `grid`: (x (G,), y (G,), log density (G, G) indexed [y, x]). Returns the picture and both panels' plane_map (the
    plane of model `name`), for clicks on either."""
    fig = new_figure(*size)
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    gx, gy, logq = grid
    xx, yy = np.meshgrid(gx, gy)
    inside = (xx - prior_center[0]) ** 2 + (yy - prior_center[1]) ** 2 <= 4.0
    holes = inside & (logq < hole_log)
    left.scatter(codes_xy[:, 0], codes_xy[:, 1], s=3, c="0.6", linewidths=0, label="training codes")
    left.contourf(xx, yy, holes.astype(float), levels=[0.5, 1.5], colors=[HOLE_COLOR], alpha=0.45)
    left.contour(xx, yy, logq, levels=[hole_log], colors=["0.35"], linewidths=0.8)
    left.fill([], [], color=HOLE_COLOR, alpha=0.45, label="hole: prior mass, no codes")
    for ax in (left, right):
        for k, style in ((1, "-"), (2, "--")):
            ax.add_patch(Circle(prior_center, k, fill=False, ls=style, lw=1.2, color="black"))
        ax.set_xlim(gx[0], gx[-1])
        ax.set_ylim(gy[0], gy[-1])
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(axis_names[0], fontsize=8)
        ax.tick_params(labelsize=7)
    left.set_ylabel(axis_names[1], fontsize=8)
    left.legend(loc="upper right", fontsize=7, framealpha=0.85)
    left.set_title("where the codes live, and the prior's holes", fontsize=9)
    for c, (mean, cov) in classes.items():
        pts = ellipse_points(mean, cov, 2, n=120)
        right.fill(pts[:, 0], pts[:, 1], color=DIGIT_COLORS[c % 10], alpha=0.18, lw=0)
        right.plot(np.r_[pts[:, 0], pts[:1, 0]], np.r_[pts[:, 1], pts[:1, 1]], color=DIGIT_COLORS[c % 10], lw=1.4)
        right.text(mean[0], mean[1], str(c), color=DIGIT_COLORS[c % 10], fontsize=10, fontweight="bold", ha="center", va="center")
    right.set_title("each digit as its own Gaussian (2 sigma) against N(0, I)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    image = figure_to_image(fig)  # drawn first: the equal-aspect axes take their final place when drawn
    return image, axes_maps(fig, [name, name])


INFO_COLOR, MISMATCH_COLOR = "#1f77b4", "#d62728"


def kl_split_bars(splits: dict[str, dict]) -> np.ndarray:
    """One bar per model (its own scale: an autoencoder's KL is thousands of nats): the mean KL of the training digits'
    bubbles split into I(x; z), what the code says about which digit it came from, and KL(q(z) || p(z)), the mismatch
    between the codes and the prior; the bound log N on the first part dashed (vae.analysis.kl_split)."""
    fig = new_figure(8.8, 0.5 + 0.9 * len(splits))
    axes = np.atleast_1d(fig.subplots(len(splits), 1))
    for ax, (name, sp) in zip(axes, splits.items()):
        info, mismatch = max(sp["info"], 0.0), max(sp["mismatch"], 0.0)
        ax.barh([0], [info], color=INFO_COLOR, height=0.6, label="names the digit: I(x; z)")
        ax.barh([0], [mismatch], left=[info], color=MISMATCH_COLOR, height=0.6, label="mismatch with the prior: KL(q(z) || p(z))")
        ax.axvline(sp["log_n"], color="black", ls="--", lw=1)
        top = max(info + mismatch, sp["log_n"]) * 1.35  # room for the figures after the bar
        ax.set_xlim(0, top)
        ax.text(sp["log_n"], 0.42, f" log N = {sp['log_n']:.1f}", fontsize=7, va="bottom")
        ax.text(min(info + mismatch, top) * 1.01 + top * 0.005, 0, f"{sp['kl']:.1f} nats: {info:.1f} + {mismatch:.1f}", fontsize=8, va="center")
        ax.set_yticks([0], [name], fontsize=9)
        ax.set_ylim(-0.5, 0.9)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=7, frameon=False)
    axes[-1].set_xlabel("nats of KL per training digit (each bar on its own scale)", fontsize=8)
    return figure_to_image(fig)


def data_curve(rows: list[dict]) -> np.ndarray:
    """The promise against the number of training digits (vae.data_curve): left, the share of prior samples that are
    digits and of reconstructions that keep their digit; right, the KL per training digit split into I(x; z), with its
    bound log N dashed, and the mismatch with the prior. Solid: the recipe as it is; dotted: with augmentation."""
    fig = new_figure(9.6, 3.2)
    left, right = fig.subplots(1, 2)
    for augment, style in ((False, "-"), (True, ":")):
        line = sorted((r for r in rows if r["augment"] == augment), key=lambda r: r["n"])
        if not line:
            continue
        n = [r["n"] for r in line]
        tag = " (augmented)" if augment else ""
        left.plot(n, [r["sample_valid"] for r in line], style, marker="o", color="tab:green", label=f"z ~ N(0, I) decodes to a digit{tag}")
        left.plot(n, [r["recon_keeps_digit"] for r in line], style, marker="s", color="tab:purple", label=f"reconstruction keeps its digit{tag}")
        right.plot(n, [r["kl_mismatch"] for r in line], style, marker="o", color=MISMATCH_COLOR, label=f"mismatch with the prior{tag}")
        right.plot(n, [r["kl_info"] for r in line], style, marker="s", color=INFO_COLOR, label=f"I(x; z), names the digit{tag}")
    ns = sorted({r["n"] for r in rows})
    right.plot(ns, [np.log(n) for n in ns], "--", color="black", lw=1, label="log N, the most I(x; z) can be")
    left.set_ylim(0, 1.02)
    right.set_ylim(bottom=0)
    for ax, ylabel in ((left, "share of 1,000"), (right, "nats per training digit")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [f"{n:,}" for n in ns])
        ax.set_xlabel("training digits N", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, frameon=False)
    return figure_to_image(fig)


# --- the likelihood's pictures (the Likelihood tab) -----------------------------------------------------------
# Drawn with PIL from colour-mapped pixels, one matplotlib colour bar per scale rendered once: a matplotlib figure of
# these panels took 0.7-1.1 s to lay out per digit on 2 cores, this takes milliseconds.

MAP_SCALE = 6  # each 28x28 map at 168 x 168
MAP_TITLE_H = 20


def colour_mapped(values: np.ndarray, cmap: str, vmin: float, vmax: float, log: bool = False) -> np.ndarray:
    """A (28, 28) map as RGB uint8 (28*MAP_SCALE, 28*MAP_SCALE, 3), crisp pixels, on a fixed scale (clipped to it)."""
    from matplotlib import colormaps

    v = np.clip(np.asarray(values, dtype=np.float64), vmin, vmax)
    t = (np.log(v) - np.log(vmin)) / (np.log(vmax) - np.log(vmin)) if log else (v - vmin) / (vmax - vmin)
    rgb = (colormaps[cmap](t)[..., :3] * 255).astype(np.uint8)
    return rgb.repeat(MAP_SCALE, axis=0).repeat(MAP_SCALE, axis=1)


def grey_map(x: np.ndarray) -> np.ndarray:
    """A digit (28, 28) in [0, 1] as RGB at the maps' size."""
    return np.repeat(digit_image(x, MAP_SCALE)[..., None], 3, axis=2)


@functools.lru_cache(maxsize=8)
def colour_bar(cmap: str, vmin: float, vmax: float, log: bool, label: str, ticks: tuple[float, ...], mark: float | None = None) -> np.ndarray:
    """A vertical colour bar for colour_mapped's scale, as tall as a map, with its ticks and label (rendered once per
    scale: it depends on nothing a visitor sends). `mark`: a value drawn as a red line across it."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    h = 28 * MAP_SCALE / 100
    fig = new_figure(1.15, h + 0.1)
    norm = LogNorm(vmin, vmax) if log else Normalize(vmin, vmax)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_axes((0.08, 0.04, 0.16, 0.92)), ticks=list(ticks))
    bar.ax.set_yticklabels([f"{t:g}" for t in ticks])
    bar.ax.tick_params(labelsize=7)
    bar.set_label(label, fontsize=7)
    if mark is not None:
        bar.ax.axhline(mark, color="red", lw=2.5)
    fig.set_layout_engine(None)
    return figure_to_image(fig)


def titled_maps(rows: list[dict[str, np.ndarray]], bars: list[np.ndarray | None] | None = None, gap: int = 10) -> np.ndarray:
    """Rows of equally sized RGB maps, each with its title above it, and a colour bar at the end of a row (bars[i])."""
    bars = bars or [None] * len(rows)
    cell = 28 * MAP_SCALE
    row_w = [len(r) * (cell + gap) + (b.shape[1] if b is not None else 0) for r, b in zip(rows, bars)]
    row_h = [max(MAP_TITLE_H + cell, b.shape[0] if b is not None else 0) + gap for b in bars]
    out = Image.new("RGB", (max(row_w) + gap, sum(row_h) + gap), (255, 255, 255))
    draw, font = ImageDraw.Draw(out), _font(12)
    y = gap
    for r, b, h in zip(rows, bars, row_h):
        x = gap
        for title, image in r.items():
            draw.text((x + cell // 2, y + MAP_TITLE_H - 5), title, fill=(0, 0, 0), font=font, anchor="mb")
            out.paste(Image.fromarray(image), (x, y + MAP_TITLE_H))
            x += cell + gap
        if b is not None:
            out.paste(Image.fromarray(b), (x, y + MAP_TITLE_H + (cell - b.shape[0]) // 2))
        y += h
    return np.asarray(out)
