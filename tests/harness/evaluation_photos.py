"""The quality gate's evaluation set: public-domain photographs shipped inside installed
packages, degraded in code. Read from the packages' files: nothing is fetched.

Real faces: two photographs hold a face dlib finds, the astronaut in the scikit-image wheel
(Eileen Collins, NASA, public domain) and Grace Hopper in matplotlib's sample data (US Navy
portrait, public domain); no other installed package ships a photograph of a person. The
scikit-image wheel's `lfw_subset.npy` adds 100 faces from Labeled Faces in the Wild at
25 x 25 px, which are upscaled to 200 px portraits (the look of a small face in an old print)
and kept when dlib finds the face. The LFW crops are used only here, never shipped by Heirloom.
"""

from __future__ import annotations

import importlib.util
import io
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

# Photographs in installed packages (package, path inside it, name, whether it shows a face),
# the documents and textures left out.
PHOTOGRAPHS = (
    ("skimage", "data/astronaut.png", "astronaut", True),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "hopper", True),
    ("skimage", "data/camera.png", "camera", False),
    ("skimage", "data/coffee.png", "coffee", False),
    ("skimage", "data/chelsea.png", "chelsea", False),
    ("skimage", "data/rocket.jpg", "rocket", False),
    ("skimage", "data/motorcycle_left.png", "motorcycle", False),
    ("skimage", "data/coins.png", "coins", False),
    ("skimage", "data/moon.png", "moon", False),
    ("skimage", "data/hubble_deep_field.jpg", "hubble", False),
)
# An LFW face's upscaled size, and the portrait canvas around it.
_FACE_PX = 200
_PORTRAIT = (360, 440)


@dataclass(frozen=True)
class Photo:
    name: str
    image: Image.Image
    has_face: bool


def package_dir(package: str) -> Path:
    """Where an installed package's files are, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed (the dev extra has it)")
    return Path(next(iter(spec.submodule_search_locations)))


def data_dir() -> Path:
    return package_dir("skimage") / "data"


@cache
def photographs() -> tuple[Photo, ...]:
    """The packages' photographs in RGB; the astronaut and Grace Hopper show a face."""
    photos = []
    for package, path, name, has_face in PHOTOGRAPHS:
        with Image.open(package_dir(package) / path) as img:
            photos.append(Photo(name, img.convert("RGB"), has_face=has_face))
    return tuple(photos)


@cache
def lfw_portraits(limit: int = 100) -> tuple[Photo, ...]:
    """LFW's faces as portraits: upscaled, on a neutral card with the face's edge colours."""
    faces = np.load(data_dir() / "lfw_subset.npy")[:100]
    portraits = []
    for index, face in enumerate(faces[:limit]):
        grey = Image.fromarray((face * 255).round().astype(np.uint8))
        big = grey.resize((_FACE_PX, _FACE_PX), Image.Resampling.BICUBIC)
        canvas = Image.new("L", _PORTRAIT, int(np.median(face) * 255))
        canvas.paste(big, ((_PORTRAIT[0] - _FACE_PX) // 2, 90))
        portraits.append(Photo(f"lfw-{index:02d}", canvas.convert("RGB"), has_face=True))
    return tuple(portraits)


def _grey(img: Image.Image, _: np.random.Generator) -> Image.Image:
    return ImageOps.grayscale(img).convert("RGB")


def _faded(img: Image.Image, _: np.random.Generator) -> Image.Image:
    sepia = ImageOps.colorize(ImageOps.grayscale(img), (60, 40, 25), (245, 230, 200))
    return ImageEnhance.Contrast(sepia).enhance(0.55)


def _blurred(img: Image.Image, _: np.random.Generator) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(max(1.0, min(img.size) / 300)))


def _noisy(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(img, dtype=np.float32)
    grain = rng.normal(0, 14, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))


def _scratched(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    for _ in range(12):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        length = rng.uniform(0.2, 0.6) * max(w, h)
        angle = rng.uniform(0, np.pi)
        end = (x0 + length * np.cos(angle), y0 + length * np.sin(angle))
        shade = int(rng.choice([235, 250, 20]))
        draw.line([(x0, y0), end], fill=(shade, shade, shade), width=int(rng.integers(1, 3)))
    return out


def _worn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return _scratched(_noisy(_blurred(_faded(img, rng), rng), rng), rng)


# Each as an old print might come: grey, faded sepia, soft, grainy, scratched, or all of them.
DEGRADATIONS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "grey": _grey,
    "faded": _faded,
    "blurred": _blurred,
    "noisy": _noisy,
    "scratched": _scratched,
    "worn": _worn,
}


def degrade(photo: Photo, degradation: str) -> Image.Image:
    """`photo` as `degradation` leaves it, the same on every run."""
    rng = np.random.default_rng(zlib.crc32(f"{photo.name}:{degradation}".encode()))
    return DEGRADATIONS[degradation](photo.image, rng)


def jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def at_one_megapixel(img: Image.Image) -> Image.Image:
    """`img` scaled to about 1 MP, its aspect kept (the bench's and the target's output size)."""
    scale = math.sqrt(1_000_000 / (img.width * img.height))
    size = (round(img.width * scale), round(img.height * scale))
    return img.resize(size, Image.Resampling.BICUBIC)


def donor_crop(donor: Photo) -> Image.Image:
    """`donor`'s largest face with the 35 % margin the local endpoint's donor file has, to be
    pasted over another photo's face (`devstack.output_faults.paste_face`)."""
    from heirloom.services.quality.faces import face_models
    from heirloom.services.quality.identity import find_faces

    found = find_faces(donor.image, face_models(), detect_long_side=640)
    if not found:
        raise ValueError(f"dlib finds no face in {donor.name}")
    margin = found[0].expanded(0.35, donor.image.width, donor.image.height)
    return donor.image.crop((margin.left, margin.top, margin.right, margin.bottom))


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
