"""Image engines for the RunPod handler: Qwen-Image-Edit on a GPU, or a Pillow stand-in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image, ImageFilter, ImageOps

from heirloom.domain.jobs import Operation


class Engine(Protocol):
    """Turns an RGB photo into its restored and/or colourized version."""

    name: str

    def apply(self, image: Image.Image, operations: Sequence[Operation]) -> Image.Image:
        """Run `operations` (canonical order: restore before colorize) on an RGB image."""
        ...


class CpuEngine:
    """A deterministic Pillow stand-in for the model so the whole stack runs without a GPU.

    Its colorize step is a warm sepia tone map, not real colourization: it only proves the plumbing.
    """

    name = "cpu-pillow-standin"

    # Shadows -> midtones -> highlights of the tone map: dark umber, warm tan, cream.
    _SHADOWS = (38, 27, 20)
    _MIDTONES = (168, 132, 100)
    _HIGHLIGHTS = (250, 243, 228)
    # Share of the tone map in the result; the rest keeps the photo's own tones and detail.
    _TONE_WEIGHT = 0.75

    def apply(self, image: Image.Image, operations: Sequence[Operation]) -> Image.Image:
        """Run `operations` on an RGB image; the size is kept."""
        result = image.convert("RGB")
        if Operation.RESTORE in operations:
            result = self._restore(result)
        if Operation.COLORIZE in operations:
            result = self._colorize(result)
        return result

    def _restore(self, image: Image.Image) -> Image.Image:
        # A 1% cutoff keeps isolated dust and scratch pixels from pinning the histogram ends.
        stretched = ImageOps.autocontrast(image, cutoff=1)
        denoised = stretched.filter(ImageFilter.MedianFilter(size=3))
        return denoised.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=3))

    def _colorize(self, image: Image.Image) -> Image.Image:
        toned = ImageOps.colorize(
            image.convert("L"),
            black=self._SHADOWS,
            white=self._HIGHLIGHTS,
            mid=self._MIDTONES,
        )
        return Image.blend(image, toned, self._TONE_WEIGHT)


class QwenImageEditEngine:
    """Qwen-Image-Edit through diffusers on a CUDA GPU; loads the model when constructed.

    torch and diffusers are imported here, not at module level: they exist only in the GPU image.
    """

    name = "qwen-image-edit"

    _KEEP = (
        "Keep every face, expression and pose, the people's identity and the composition exactly "
        "as they are; do not add, remove or move anything."
    )
    _PROMPTS: dict[tuple[Operation, ...], str] = {
        (Operation.RESTORE,): (
            "Restore this old damaged photograph: remove scratches, dust, spots, creases and "
            "tears, repair fading and uneven contrast, and reduce grain. Keep its original "
            f"colours or black and white. {_KEEP}"
        ),
        (Operation.COLORIZE,): (
            "Colorize this black-and-white photograph with natural, realistic colours: true skin "
            f"tones, hair, clothing, sky, foliage and buildings as they would have looked. {_KEEP}"
        ),
        (Operation.RESTORE, Operation.COLORIZE): (
            "Restore and colorize this old damaged photograph: remove scratches, dust, spots, "
            "creases and tears, repair fading and reduce grain, then give it natural, realistic "
            "colours: true skin tones, hair, clothing, sky, foliage and buildings. "
            f"{_KEEP}"
        ),
    }
    _NEGATIVE_PROMPT = (
        "distorted faces, changed identity, extra people, text, watermark, cartoon, painting, "
        "oversaturated colours, blur"
    )

    def __init__(
        self,
        *,
        model_id: str = "Qwen/Qwen-Image-Edit",
        num_inference_steps: int = 50,
        true_cfg_scale: float = 4.0,
        seed: int = 0,
        device: str = "cuda",
    ) -> None:
        import torch
        from diffusers import QwenImageEditPipeline

        self._torch: Any = torch
        self._device = device
        self._num_inference_steps = num_inference_steps
        self._true_cfg_scale = true_cfg_scale
        self._seed = seed
        self._pipeline: Any = QwenImageEditPipeline.from_pretrained(
            model_id, torch_dtype=torch.bfloat16
        ).to(device)
        self._pipeline.set_progress_bar_config(disable=True)

    def apply(self, image: Image.Image, operations: Sequence[Operation]) -> Image.Image:
        """Run `operations` on an RGB image; the result is resized back to the input's size."""
        prompt = self._PROMPTS[tuple(op for op in Operation if op in operations)]
        # A fixed seed per job makes a retried job give the same picture.
        generator = self._torch.Generator(device=self._device).manual_seed(self._seed)
        with self._torch.inference_mode():
            output = self._pipeline(
                image=image.convert("RGB"),
                prompt=prompt,
                negative_prompt=self._NEGATIVE_PROMPT,
                num_inference_steps=self._num_inference_steps,
                true_cfg_scale=self._true_cfg_scale,
                generator=generator,
            )
        edited: Image.Image = output.images[0]
        # The pipeline works near 1 megapixel on a 16 px grid; Heirloom's before/after and
        # resizing expect the input's geometry.
        if edited.size != image.size:
            edited = edited.resize(image.size, Image.Resampling.LANCZOS)
        return edited


def engine_named(name: str) -> Engine:
    """Build the engine configured as `cpu` or `qwen`."""
    if name == "cpu":
        return CpuEngine()
    if name == "qwen":
        return QwenImageEditEngine()
    raise ValueError(f"unknown engine {name!r}; choose cpu or qwen")
