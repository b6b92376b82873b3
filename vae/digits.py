"""Turn a drawing or an uploaded picture into what MNIST looks like: a centred white digit on black, 28x28."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MAX_PIXELS = 40_000_000  # a 6000x6000 picture; more is refused before any work is done
WORK_SIZE = 512  # larger inputs are shrunk to this first: a digit needs no more detail
FULL_INK = 0.5  # a canvas more than half covered is not a digit
# A drawing arrives as its strokes, points as fractions of the canvas's side (0 to 1 from the top left), and is inked
# here with a round pen of PEN_WIDTH of the side, as the page draws it.
PEN_WIDTH = 24 / 336  # with this pen a digit's stroke is about as thick, relative to its height, as MNIST's
INK_SIDE = 336  # px, the side the strokes are inked at
MAX_POINTS = 5_000  # all strokes together: a digit drawn slowly is a few hundred points
MAX_STROKES = 200


class InputError(ValueError):
    """An input that is not a usable digit; the message is one sentence for the person."""


class BlankCanvas(InputError):
    """No ink at all: a state the Draw tab shows as a prompt (also right after clearing), not an error."""

    def __init__(self):
        super().__init__("The canvas is blank: draw a digit first.")


def open_picture(path) -> Image.Image:
    """A picture file read whole, or InputError saying in one sentence why it cannot be: not a picture (whatever its
    name says), too many pixels (checked from the header, before decoding: a decompression bomb costs nothing), or
    damaged."""
    try:
        img = Image.open(path)
        if img.width * img.height > MAX_PIXELS:
            raise InputError(f"The picture is {img.width}x{img.height} pixels; please use one under {MAX_PIXELS // 1_000_000} megapixels.")
        img.load()
        return img
    except Image.DecompressionBombError:  # PIL refuses past twice its own limit while reading the header
        raise InputError(f"The picture has far too many pixels; please use one under {MAX_PIXELS // 1_000_000} megapixels.") from None
    except (Image.UnidentifiedImageError, Image.DecompressionBombWarning):
        raise InputError("That file is not a picture this app can read; upload a PNG, JPEG or WebP of a digit.") from None
    except (OSError, SyntaxError, ValueError) as err:  # a truncated or corrupt file of a known format
        raise InputError(f"That picture file is damaged and cannot be read ({type(err).__name__}); try saving it again.") from None


def ink_from_image(image: Image.Image | np.ndarray) -> np.ndarray:
    """Ink map (H, W) float32 in [0, 1] of any picture, whatever its mode and colours.

    Transparent pixels are no ink when the picture has transparency; otherwise the colour
    of the border is the paper and ink is how far each pixel is from it, so black on white,
    white on black and coloured pens all work.
    """
    img = _as_pil(image)
    if img.width * img.height > MAX_PIXELS:
        raise InputError(f"The picture is {img.width}x{img.height} pixels; please use one under {MAX_PIXELS // 1_000_000} megapixels.")
    img = _common_mode(img)
    if max(img.size) > WORK_SIZE:
        img = img.copy()
        img.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)
    if img.mode in ("RGBA", "LA"):
        alpha = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
        if alpha.min() < 0.99:
            return alpha
        img = img.convert("RGB")
    if img.mode in ("I", "F"):
        gray = np.asarray(img, dtype=np.float32)
        lo, hi = np.nanmin(gray), np.nanmax(gray)
        gray = (gray - lo) / (hi - lo) if hi > lo else np.zeros_like(gray)
    else:
        gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return np.abs(gray - np.median(border))


def check_strokes(value) -> list[np.ndarray]:
    """The strokes of a drawing {"strokes": [[[x, y], ...], ...]} as (n, 2) float arrays clipped to the canvas, or
    InputError saying in one sentence what is wrong (without echoing it). None, {} and no strokes are no strokes."""
    if value is None or value == {}:
        return []
    strokes = value.get("strokes") if isinstance(value, dict) else None
    if not isinstance(strokes, list):
        raise InputError('A drawing is {"strokes": [[[x, y], ...], ...]}, points as fractions of the canvas (0 to 1).')
    if len(strokes) > MAX_STROKES:
        raise InputError(f"The drawing has {len(strokes)} strokes; at most {MAX_STROKES} are taken. Clear it and draw again.")
    if sum(len(s) if isinstance(s, list) else 0 for s in strokes) > MAX_POINTS:
        raise InputError(f"The drawing has over {MAX_POINTS:,} points; a digit needs far fewer. Clear it and draw again.")
    out = []
    for stroke in strokes:
        ok = isinstance(stroke, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, float) or (type(v) is int and abs(v) < 2**53) for v in p) for p in stroke)
        if not ok:
            raise InputError("Each stroke of a drawing must be a list of [x, y] points (numbers).")
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise InputError("A stroke's points must be finite numbers (not NaN or infinity).")
        if len(points):
            out.append(np.clip(points, 0.0, 1.0))
    return out


def ink_from_strokes(strokes: list[np.ndarray], side: int = INK_SIDE, width: float = PEN_WIDTH) -> np.ndarray:
    """Ink map (side, side) float32 in [0, 1] of check_strokes' strokes, drawn with a round pen as the page does; no
    strokes raise BlankCanvas."""
    if not strokes:
        raise BlankCanvas()
    img = Image.new("L", (side, side), 0)
    pen = ImageDraw.Draw(img)
    w, r = max(1, round(width * side)), width * side / 2
    for points in strokes:
        xy = [(float(x), float(y)) for x, y in points * side]
        if len(xy) > 1:
            pen.line(xy, fill=255, width=w, joint="curve")
        for x, y in (xy[0], xy[-1]):  # round ends (and a dot for a single point)
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """MNIST's own recipe on an ink map: crop to the ink, scale the longer side to 20 px,
    centre by centre of mass in 28x28. Returns (28, 28) float32 in [0, 1], white digit on black."""
    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2 or min(ink.shape) < 1:
        raise InputError("The drawing must be a 2-D picture.")
    if not np.isfinite(ink).all():
        raise InputError("The picture holds invalid values (NaN or infinity).")
    peak = float(ink.max())
    if peak < 0.05 or (ink > 0.5 * peak).sum() < 3:
        raise BlankCanvas()
    ink = np.clip(ink / peak, 0.0, 1.0)
    covered = float((ink > 0.5).mean())
    if covered > FULL_INK and min(ink.shape) >= 8:
        raise InputError(f"The canvas is {covered:.0%} ink; a digit is a thin stroke on an empty background. Clear it and draw one digit.")
    rows, cols = np.nonzero(ink > 0.1)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR))
    small = np.clip(small, 0.0, 1.0)
    # paste so that the centre of mass lands on the centre of the 28x28 frame, as MNIST does
    ys, xs = np.indices(small.shape)
    total = small.sum()
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    top, left = int(round(14 - cy - 0.5)), int(round(14 - cx - 0.5))
    top, left = min(max(top, 0), 28 - new_h), min(max(left, 0), 28 - new_w)
    out = np.zeros((28, 28), dtype=np.float32)
    out[top : top + new_h, left : left + new_w] = small
    return out


def _common_mode(img: Image.Image) -> Image.Image:
    """Any of PIL's modes as one of L, LA, RGB, RGBA, I or F, which every later step supports."""
    mode = img.mode
    if mode in ("P", "PA", "La", "RGBa") or (mode in ("L", "RGB") and "transparency" in img.info):
        return img.convert("RGBA")
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I;16"):
        return img.convert("I")
    if mode == "LAB":  # no direct conversion to L: its first band is the lightness
        return img.getchannel("L")
    if mode == "HSV":
        return img.getchannel("V")
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return img
    try:
        return img.convert("RGB")  # CMYK, YCbCr, ...
    except ValueError:
        raise InputError(f"Pictures in PIL's {mode} mode are not supported; save it as PNG or JPEG.") from None


def _as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    arr = np.asarray(image)
    if arr.size == 0 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InputError(f"Expected a picture (height x width x 1, 3 or 4 channels), got an array of shape {arr.shape}.")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise InputError(f"The picture is {arr.shape[1]}x{arr.shape[0]} pixels; please use one under {MAX_PIXELS // 1_000_000} megapixels.")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InputError("The picture holds invalid values (NaN or infinity).")
        arr = np.clip(arr * 255.0 if arr.max() <= 1.0 else arr, 0, 255)
    elif arr.dtype.kind not in "uib":
        raise InputError(f"Expected a picture of numbers, got values of type {arr.dtype}.")
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr)  # L, RGB or RGBA from the shape
