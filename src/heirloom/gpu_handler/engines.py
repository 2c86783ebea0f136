"""Image engines for the RunPod handler: Qwen-Image-Edit on a GPU, or a Pillow stand-in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image, ImageFilter, ImageOps

from heirloom.config import QwenSettings
from heirloom.domain.jobs import Operation
from heirloom.gpu_handler.progress import ModelStage, Progress, ProgressReporter, ignore_progress
from heirloom.gpu_handler.prompts import NEGATIVE_PROMPT, prompt_for


class Engine(Protocol):
    """Turns an RGB photo into its restored and/or colourized version."""

    name: str
    # What makes the pictures, recorded on each job: model id, LoRA and revisions, sampling.
    model: str
    # The same as fields (model_provenance): what a job's JSON, export and cost report show.
    provenance: dict[str, Any]

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        """Run `operations` (canonical order: restore before colorize) on an RGB image.

        The same image, operations and seed give the same picture. `progress` hears the
        stages of domain/model_progress.py in order: encoding, each denoising step, decoding;
        an exception it raises (the handler's cancel check) stops the engine there.
        """
        ...


class CpuEngine:
    """A deterministic Pillow stand-in for the model so the whole stack runs without a GPU.

    Its colorize step is a warm sepia tone map, not real colourization: it only proves the plumbing.
    """

    name = "cpu-pillow-standin"
    model = "cpu-pillow-standin"
    # One Pillow pass per operation, no weights, no sampling.
    provenance: dict[str, Any] = {
        "model_id": "cpu-pillow-standin",
        "revision": None,
        "lora": None,
        "lora_revision": None,
        "steps": None,
        "cfg": None,
    }

    # Shadows -> midtones -> highlights of the tone map: dark umber, warm tan, cream.
    _SHADOWS = (38, 27, 20)
    _MIDTONES = (168, 132, 100)
    _HIGHLIGHTS = (250, 243, 228)
    # Share of the tone map in the result; the rest keeps the photo's own tones and detail.
    _TONE_WEIGHT = 0.75

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        """Run `operations` on an RGB image; the size is kept. Pillow needs no seed."""
        steps = [op for op in Operation if op in operations]
        total = len(steps)
        result = image.convert("RGB")
        progress(Progress(ModelStage.ENCODING, 0, total))
        # Each operation is one "denoising" step of the contract.
        for done, op in enumerate(steps, start=1):
            result = self._restore(result) if op is Operation.RESTORE else self._colorize(result)
            progress(Progress(ModelStage.DENOISING, done, total))
        progress(Progress(ModelStage.DECODING, total, total))
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
    """Qwen-Image-Edit through diffusers; `load` builds it from settings once per worker.

    torch and diffusers are imported inside, not at module level: they exist only where the
    `gpu` extra is installed.
    """

    name = "qwen-image-edit"

    def __init__(self, pipeline: Any, options: QwenSettings) -> None:
        self._pipeline = pipeline
        self._options = options
        self.model = model_label(options)
        self.provenance = model_provenance(options)
        self._steps = options.lora_steps if options.lora_id else options.steps
        self._true_cfg_scale = (
            options.lora_true_cfg_scale if options.lora_id else options.true_cfg_scale
        )
        self._pipeline.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, options: QwenSettings) -> QwenImageEditEngine:
        """Load the configured model (from the Hugging Face cache or a local folder)."""
        import diffusers
        import torch

        pipeline_class = getattr(diffusers, options.pipeline)
        pipeline = pipeline_class.from_pretrained(
            options.model_id, dtype=getattr(torch, options.dtype), revision=options.revision or None
        )
        if options.lora_id:
            pipeline.load_lora_weights(
                options.lora_id,
                weight_name=options.lora_weight_name or None,
                revision=options.lora_revision or None,
            )
            # Fused, the adapter costs no extra matmuls per step.
            pipeline.fuse_lora()
            if options.lora_shift is not None:
                # Few-step LoRAs are distilled on their own noise schedule.
                pipeline.scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_config(
                    pipeline.scheduler.config, **lightning_schedule(options.lora_shift)
                )
        if options.cpu_offload == "model":
            pipeline.enable_model_cpu_offload(device=options.device)
        elif options.cpu_offload == "sequential":
            pipeline.enable_sequential_cpu_offload(device=options.device)
        else:
            pipeline.to(options.device)
        return cls(pipeline, options)

    @property
    def pipeline(self) -> Any:
        return self._pipeline

    def apply(
        self,
        image: Image.Image,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        progress: ProgressReporter = ignore_progress,
    ) -> Image.Image:
        """Run `operations` on an RGB image; the result is resized back to the input's size."""
        import torch

        def on_step_end(
            pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]
        ) -> dict[str, Any]:
            total = pipeline.num_timesteps
            progress(Progress(ModelStage.DENOISING, step + 1, total))
            if step + 1 == total:
                # The pipeline decodes the latents right after its last step's callback.
                progress(Progress(ModelStage.DECODING, total, total))
            return tensors

        # The generator lives on the CPU so a seed gives the same noise on every card.
        generator = torch.Generator(device="cpu").manual_seed(seed)
        guided = self._true_cfg_scale > 1
        width, height = working_size(image.size, self._options.working_pixels)
        progress(Progress(ModelStage.ENCODING, 0, self._steps))
        with torch.inference_mode():
            output = self._pipeline(
                image=image.convert("RGB"),
                prompt=prompt_for(tuple(operations)),
                # Without true CFG the negative prompt would only cost an unused encoding.
                negative_prompt=NEGATIVE_PROMPT if guided else None,
                true_cfg_scale=self._true_cfg_scale,
                num_inference_steps=self._steps,
                width=width,
                height=height,
                generator=generator,
                callback_on_step_end=on_step_end,
            )
        edited: Image.Image = output.images[0]
        # The model draws on a 32 px grid; Heirloom's before/after and resizing expect the
        # input's geometry.
        if edited.size != image.size:
            edited = edited.resize(image.size, Image.Resampling.LANCZOS)
        return edited


def model_label(options: QwenSettings) -> str:
    """The job's `model`: the model and LoRA with their revisions ("default": unpinned), and
    the sampling they run with, e.g. `Qwen/Qwen-Image-Edit-2511@<rev> + lightx2v/...@<rev>
    (8 steps, CFG 1.0)`."""
    label = f"{options.model_id}@{options.revision or 'default'}"
    if options.lora_id:
        weights = f"/{options.lora_weight_name}" if options.lora_weight_name else ""
        label += f" + {options.lora_id}{weights}@{options.lora_revision or 'default'}"
        steps, cfg = options.lora_steps, options.lora_true_cfg_scale
    else:
        steps, cfg = options.steps, options.true_cfg_scale
    return f"{label} ({steps} steps, CFG {cfg})"


def model_provenance(options: QwenSettings) -> dict[str, Any]:
    """What `model_label` says, as fields: model id and revision, LoRA (repository/weights)
    and its revision, steps and CFG (None: unpinned revision or no LoRA)."""
    lora = None
    if options.lora_id:
        weights = f"/{options.lora_weight_name}" if options.lora_weight_name else ""
        lora = f"{options.lora_id}{weights}"
    return {
        "model_id": options.model_id,
        "revision": options.revision or None,
        "lora": lora,
        "lora_revision": (options.lora_revision or None) if lora else None,
        "steps": options.lora_steps if lora else options.steps,
        "cfg": options.lora_true_cfg_scale if lora else options.true_cfg_scale,
    }


def working_size(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    """Width and height near `pixels` in area with the aspect ratio of `size`, multiples of 32."""
    width, height = size
    scale = math.sqrt(pixels / (width * height))
    return (
        max(32, round(width * scale / 32) * 32),
        max(32, round(height * scale / 32) * 32),
    )


def lightning_schedule(shift: float) -> dict[str, Any]:
    """Scheduler settings of a distilled few-step LoRA trained with a fixed `shift`."""
    return {
        "base_shift": math.log(shift),
        "max_shift": math.log(shift),
        "shift": 1.0,
        "shift_terminal": None,
        "time_shift_type": "exponential",
        "use_dynamic_shifting": True,
    }


def engine_named(name: str, options: QwenSettings | None = None) -> Engine:
    """Build the engine configured as `cpu` or `qwen` (with `options`, default settings)."""
    if name == "cpu":
        return CpuEngine()
    if name == "qwen":
        return QwenImageEditEngine.load(options or QwenSettings())
    raise ValueError(f"unknown engine {name!r}; choose cpu or qwen")
