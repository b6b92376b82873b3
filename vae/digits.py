"""Turn a drawing or an uploaded picture into what MNIST looks like: a centred white digit on black, 28x28."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

MAX_PIXELS = 40_000_000  # a 6000x6000 picture; more is refused before any work is done
WORK_SIZE = 512  # larger inputs are shrunk to this first: a digit needs no more detail
FULL_INK = 0.5  # a canvas more than half covered is not a digit
# A drawing arrives as a few pictures (background, layers, composite) that Gradio would decode whole: an 8000x8000
# one-bit PNG is 15 KB on the wire and 256 MB decoded, so their sizes are checked from the headers first.
MAX_CANVAS_SIDE = 2048  # px, each picture (the app's canvas is 336)
MAX_CANVAS_PICTURES = 4  # background, composite and up to two layers


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


def picture_size(source) -> tuple[int, int]:
    """(width, height) of a picture file or its bytes, read from the header alone (nothing is decoded), or InputError
    saying why it cannot be read."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source) as img:
            return img.size
    except Image.DecompressionBombError:  # PIL's own limit, past twice 89 megapixels
        raise InputError(f"The picture has far too many pixels; please use one under {MAX_PIXELS // 1_000_000} megapixels.") from None
    except (OSError, SyntaxError, ValueError):
        raise InputError("That file is not a picture this app can read; upload a PNG, JPEG or WebP of a digit.") from None


def check_canvas(sizes: list[tuple[int, int]]) -> None:
    """InputError unless a drawing of pictures of these (width, height) is one a canvas would send: a few pictures,
    none larger than MAX_CANVAS_SIDE on a side."""
    if len(sizes) > MAX_CANVAS_PICTURES:
        raise InputError(f"The drawing came as {len(sizes)} pictures; a canvas sends at most {MAX_CANVAS_PICTURES}. Clear it and draw again.")
    for w, h in sizes:
        if max(w, h) > MAX_CANVAS_SIDE:
            raise InputError(f"The drawing is {w}x{h} pixels; a canvas is at most {MAX_CANVAS_SIDE} on a side. Clear it and draw again.")


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


def ink_from_sketch(value: dict | None) -> np.ndarray:
    """Ink map of a gr.Sketchpad value {"background", "layers", "composite"}: the strokes' opacity. A value the
    canvas refused to decode ({"refused": sentence}, playground.widgets.Canvas) raises that sentence."""
    if not value:
        raise BlankCanvas()
    if value.get("refused"):
        raise InputError(value["refused"])
    layers = [np.asarray(layer) for layer in value.get("layers") or [] if layer is not None]
    layers = [layer for layer in layers if layer.ndim == 3 and layer.shape[2] == 4]
    if layers:
        h, w = layers[0].shape[:2]
        return np.max([layer[:h, :w, 3].astype(np.float32) / 255.0 for layer in layers if layer.shape[:2] == (h, w)], axis=0)
    if value.get("composite") is not None:
        return ink_from_image(value["composite"])
    raise BlankCanvas()


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
