"""The real Qwen-Image-Edit pipeline code on a tiny random model, on the CPU (make test-gpu-path).

The model is built here from small configs (transformer, VAE, Qwen2.5-VL text encoder, a byte
level tokenizer and the processor), saved to a folder and loaded back through
`QwenImageEditEngine.load`, exactly as the GPU worker loads the published weights: nothing is
downloaded. The pictures are noise; what is checked is that the engine drives the pipeline.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the gpu extra is not installed: make test-gpu-path")
diffusers = pytest.importorskip("diffusers", reason="the gpu extra is not installed")
transformers = pytest.importorskip("transformers", reason="the gpu extra is not installed")

from PIL import Image, ImageChops  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers.video_processing_utils import BaseVideoProcessor  # noqa: E402

from heirloom.config import QwenSettings  # noqa: E402
from heirloom.domain.jobs import Operation, model_progress  # noqa: E402
from heirloom.gpu_handler import handler as handler_module  # noqa: E402
from heirloom.gpu_handler.engines import QwenImageEditEngine, working_size  # noqa: E402
from heirloom.gpu_handler.progress import Progress  # noqa: E402
from heirloom.gpu_handler.prompts import NEGATIVE_PROMPT, prompt_for  # noqa: E402

# Qwen2.5-VL's special tokens at their real ids: the text encoder finds the image by them.
SPECIAL_TOKENS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}
# Where the tiny model runs: the CPU here, CUDA in `make gpu-check` (bench/gpu_check.py).
DEVICE = os.environ.get("HEIRLOOM_GPU_TEST_DEVICE", "cpu")
# The area the tiny model draws at: a few latent patches keep a CPU step well under a second.
WORKING_PIXELS = 64 * 64
STEPS = 2


def tiny_tokenizer() -> Any:
    """A byte-level BPE without merges: every text encodes, one token per byte."""
    vocab = {char: i for i, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update(SPECIAL_TOKENS)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    )
    return transformers.Qwen2Tokenizer(tokenizer_object=backend)


def tiny_pipeline(*, zero_cond_t: bool = False) -> Any:
    """QwenImageEditPlusPipeline with random weights, sized like diffusers' own fast tests.

    `zero_cond_t` is the 2511 release's transformer: the reference image's tokens get
    timestep zero.
    """
    torch.manual_seed(0)
    transformer = diffusers.QwenImageTransformer2DModel(
        zero_cond_t=zero_cond_t,
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    z_dim = 4
    vae = diffusers.AutoencoderKLQwenImage(
        base_dim=z_dim * 6,
        z_dim=z_dim,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[1.0] * z_dim,
    )
    text_encoder = transformers.Qwen2_5_VLForConditionalGeneration(
        transformers.Qwen2_5_VLConfig(
            text_config={
                "hidden_size": 16,
                "intermediate_size": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default"},
                "rope_theta": 1000000.0,
            },
            vision_config={
                "depth": 2,
                "hidden_size": 16,
                "intermediate_size": 16,
                "num_heads": 2,
                "out_hidden_size": 16,
            },
            hidden_size=16,
            vocab_size=152064,
            vision_start_token_id=SPECIAL_TOKENS["<|vision_start|>"],
            vision_end_token_id=SPECIAL_TOKENS["<|vision_end|>"],
            vision_token_id=SPECIAL_TOKENS["<|vision_pad|>"],
            image_token_id=SPECIAL_TOKENS["<|image_pad|>"],
        )
    )
    tokenizer = tiny_tokenizer()
    processor = transformers.Qwen2VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(
            min_pixels=56 * 56, max_pixels=28 * 28 * 64
        ),
        tokenizer=tokenizer,
        video_processor=BaseVideoProcessor(),
    )
    return diffusers.QwenImageEditPlusPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )


@pytest.fixture(scope="module")
def cpu_shims() -> Iterator[None]:
    """Adjust two things of the CPU test environment, never of the pipeline's code path.

    torchvision is not installed beside the CPU torch build, so transformers exports a
    placeholder for BaseVideoProcessor, which the processor's class check would refuse.
    Both pipelines encode the input at a fixed 1 megapixel for the VAE, minutes on a CPU; the
    tiny model gets the working area instead.
    """
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit as first
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus
    from transformers import processing_utils

    first_dimensions = first.calculate_dimensions

    with pytest.MonkeyPatch.context() as patch:
        # The class check looks the name up in its own handle on the package.
        patch.setattr(
            processing_utils.transformers_module, "BaseVideoProcessor", BaseVideoProcessor
        )
        patch.setattr(plus, "VAE_IMAGE_SIZE", WORKING_PIXELS)
        patch.setattr(
            first,
            "calculate_dimensions",
            lambda area, ratio: first_dimensions(min(area, WORKING_PIXELS), ratio),
        )
        yield


@pytest.fixture(scope="module")
def model_dir(cpu_shims: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-qwen-image-edit")
    tiny_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lora_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random LoRA on the tiny transformer, saved as diffusers saves published LoRAs."""
    peft = pytest.importorskip("peft", reason="the gpu extra is not installed")
    transformer = diffusers.QwenImageTransformer2DModel.from_pretrained(
        model_dir, subfolder="transformer"
    )
    torch.manual_seed(1)
    transformer.add_adapter(
        peft.LoraConfig(
            r=2,
            lora_alpha=2,
            # Random up-projections: a zero-initialised LoRA would leave the weights as they are.
            init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        )
    )
    folder = tmp_path_factory.mktemp("tiny-lora")
    diffusers.QwenImageEditPlusPipeline.save_lora_weights(
        folder, transformer_lora_layers=peft.get_peft_model_state_dict(transformer)
    )
    return folder


def options(model_dir: Path, **changes: Any) -> QwenSettings:
    """The tiny model's settings: without the default (published, downloaded) Lightning LoRA."""
    return QwenSettings(
        model_id=str(model_dir),
        lora_id=None,
        lora_weight_name=None,
        device=DEVICE,
        dtype="float32",
        steps=STEPS,
        true_cfg_scale=2.0,
        working_pixels=WORKING_PIXELS,
    ).model_copy(update=changes)


@pytest.fixture(scope="module")
def model_2511_dir(cpu_shims: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-qwen-image-edit-2511")
    tiny_pipeline(zero_cond_t=True).save_pretrained(folder)
    return folder


# The published Lightning file's name and key format (lightx2v): module paths of the
# transformer with `.lora_down.weight`, `.lora_up.weight` and `.alpha`, no prefix.
PUBLISHED_LORA_FILE = "Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors"


@pytest.fixture(scope="module")
def published_lora_dir(lora_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same random LoRA as `lora_dir`, rewritten in the published Lightning key format."""
    from safetensors.torch import load_file, save_file

    diffusers_format = load_file(lora_dir / "pytorch_lora_weights.safetensors")
    published: dict[str, Any] = {}
    for key, tensor in diffusers_format.items():
        module = key.removeprefix("transformer.")
        if module.endswith(".lora_A.weight"):
            base = module.removesuffix(".lora_A.weight")
            published[f"{base}.lora_down.weight"] = tensor
            # alpha == rank: a scale of one, as the diffusers-format copy has.
            published[f"{base}.alpha"] = torch.tensor(float(tensor.shape[0]))
        else:
            published[module.replace(".lora_B.weight", ".lora_up.weight")] = tensor
    assert not any(k.startswith("transformer.") or "lora_A" in k for k in published)
    folder = tmp_path_factory.mktemp("tiny-published-lora")
    save_file(published, folder / PUBLISHED_LORA_FILE)
    return folder


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> QwenImageEditEngine:
    return QwenImageEditEngine.load(options(model_dir))


def photo(size: tuple[int, int] = (90, 60)) -> Image.Image:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(image, Image.new("RGB", size, (150, 90, 40)), 0.4)


def test_apply_draws_at_the_working_size_and_returns_the_inputs_size(
    engine: QwenImageEditEngine,
) -> None:
    calls: list[dict[str, Any]] = []
    pipeline_call = type(engine.pipeline).__call__

    def recording_call(pipeline: Any, **kwargs: Any) -> Any:
        output = pipeline_call(pipeline, **kwargs)
        calls.append({**kwargs, "drawn": output.images[0].size})
        return output

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(engine.pipeline), "__call__", recording_call)
        result = engine.apply(photo(), (Operation.COLORIZE, Operation.RESTORE), seed=7)

    assert result.size == (90, 60)
    assert result.mode == "RGB"
    [call] = calls
    assert call["prompt"] == prompt_for((Operation.RESTORE, Operation.COLORIZE))
    assert call["negative_prompt"] == NEGATIVE_PROMPT
    assert call["true_cfg_scale"] == 2.0
    assert call["num_inference_steps"] == STEPS
    assert (call["width"], call["height"]) == working_size((90, 60), WORKING_PIXELS)
    assert call["drawn"] == (call["width"], call["height"])
    assert call["drawn"] != result.size


def test_each_denoising_step_is_reported(engine: QwenImageEditEngine) -> None:
    reports: list[Progress] = []
    engine.apply(photo(), (Operation.RESTORE,), seed=1, progress=reports.append)
    assert [(p.stage, p.step, p.total) for p in reports] == [
        ("encoding", 0, STEPS),
        ("denoising", 1, STEPS),
        ("denoising", 2, STEPS),
        ("decoding", STEPS, STEPS),
    ]
    assert reports[-1].percent == 100


def test_the_seed_decides_the_picture(engine: QwenImageEditEngine) -> None:
    first = engine.apply(photo(), (Operation.RESTORE,), seed=11)
    again = engine.apply(photo(), (Operation.RESTORE,), seed=11)
    other = engine.apply(photo(), (Operation.RESTORE,), seed=12)
    assert ImageChops.difference(first, again).getbbox() is None
    assert ImageChops.difference(first, other).getbbox() is not None


def test_bfloat16_weights_load_and_yield_an_rgb_photo(model_dir: Path) -> None:
    engine = QwenImageEditEngine.load(options(model_dir, dtype="bfloat16", steps=1))
    assert engine.pipeline.transformer.dtype == torch.bfloat16
    assert engine.pipeline.text_encoder.dtype == torch.bfloat16
    result = engine.apply(photo((40, 56)), (Operation.COLORIZE,), seed=3)
    assert (result.size, result.mode) == ((40, 56), "RGB")


def test_without_true_cfg_the_negative_prompt_is_not_encoded(model_dir: Path) -> None:
    engine = QwenImageEditEngine.load(options(model_dir, true_cfg_scale=1.0, steps=1))
    prompts: list[Any] = []
    encode = type(engine.pipeline).encode_prompt

    def recording_encode(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        prompts.append(kwargs.get("prompt", args[0] if args else None))
        return encode(pipeline, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(engine.pipeline), "encode_prompt", recording_encode)
        engine.apply(photo(), (Operation.RESTORE,), seed=3)
    assert prompts == [prompt_for((Operation.RESTORE,))]


def test_the_first_release_runs_with_its_own_pipeline(model_dir: Path) -> None:
    engine = QwenImageEditEngine.load(options(model_dir, pipeline="QwenImageEditPipeline"))
    assert type(engine.pipeline) is diffusers.QwenImageEditPipeline
    reports: list[Progress] = []
    result = engine.apply(photo(), (Operation.COLORIZE,), seed=2, progress=reports.append)
    assert (result.size, result.mode) == ((90, 60), "RGB")
    assert [p.step for p in reports] == [0, 1, 2, 2]


def first_query_weight(engine: QwenImageEditEngine) -> Any:
    layer = engine.pipeline.transformer.transformer_blocks[0].attn.to_q
    return getattr(layer, "base_layer", layer).weight


def test_a_distilled_lora_is_fused_and_samples_with_its_own_steps_and_schedule(
    engine: QwenImageEditEngine, model_dir: Path, lora_dir: Path
) -> None:
    fast = QwenImageEditEngine.load(
        options(model_dir, lora_id=str(lora_dir), lora_steps=1, lora_shift=3.0)
    )
    assert not torch.equal(first_query_weight(fast), first_query_weight(engine))
    schedule = fast.pipeline.scheduler.config
    assert schedule.use_dynamic_shifting
    assert schedule.time_shift_type == "exponential"
    assert schedule.base_shift == schedule.max_shift == pytest.approx(math.log(3))
    reports: list[Progress] = []
    result = fast.apply(photo(), (Operation.RESTORE,), seed=1, progress=reports.append)
    assert [(p.stage, p.step, p.total) for p in reports] == [
        ("encoding", 0, 1),
        ("denoising", 1, 1),
        ("decoding", 1, 1),
    ]
    assert result.size == (90, 60)


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_each_cpu_offload_mode_runs_the_model_from_cpu_memory(
    model_dir: Path, offload: str
) -> None:
    if not DEVICE.startswith("cuda"):
        pytest.skip("CPU offload moves weights to an accelerator: make gpu-check runs it on CUDA")
    engine = QwenImageEditEngine.load(options(model_dir, cpu_offload=offload, steps=1))
    reports: list[Progress] = []
    result = engine.apply(photo(), (Operation.RESTORE,), seed=4, progress=reports.append)
    assert (result.size, result.mode) == ((90, 60), "RGB")
    assert [p.stage for p in reports] == ["encoding", "denoising", "decoding"]
    if offload == "model":
        # Between calls the transformer waits in CPU memory, not on the card.
        assert engine.pipeline.transformer.device.type == "cpu"


def test_the_2511_transformer_runs_its_zero_cond_t_path(model_2511_dir: Path) -> None:
    engine = QwenImageEditEngine.load(options(model_2511_dir))
    transformer = engine.pipeline.transformer
    assert transformer.config.zero_cond_t is True
    calls: list[Any] = []
    forward = type(transformer).forward

    def recording_forward(module: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(module.zero_cond_t)
        return forward(module, *args, **kwargs)

    reports: list[Progress] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(transformer), "forward", recording_forward)
        result = engine.apply(photo(), (Operation.RESTORE,), seed=5, progress=reports.append)
    assert (result.size, result.mode) == ((90, 60), "RGB")
    # True CFG: the conditional and the unconditional pass for each of the steps.
    assert calls == [True] * (2 * STEPS)
    assert [p.stage for p in reports][-1] == "decoding"


def test_a_lora_in_the_published_key_format_loads_as_the_diffusers_format_does(
    model_dir: Path, lora_dir: Path, published_lora_dir: Path
) -> None:
    base = QwenImageEditEngine.load(options(model_dir))
    reference = QwenImageEditEngine.load(options(model_dir, lora_id=str(lora_dir)))
    published = QwenImageEditEngine.load(
        options(
            model_dir,
            lora_id=str(published_lora_dir),
            lora_weight_name=PUBLISHED_LORA_FILE,
            lora_steps=1,
        )
    )
    fused = first_query_weight(published)
    assert not torch.equal(fused, first_query_weight(base))
    # Same adapter, other key format: the same fused weights.
    assert torch.allclose(fused, first_query_weight(reference), atol=1e-6)
    result = published.apply(photo(), (Operation.RESTORE,), seed=1)
    assert result.size == (90, 60)


def test_the_handler_runs_a_job_on_the_configured_model(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "HEIRLOOM_ENGINE": "qwen",
        "HEIRLOOM_QWEN__MODEL_ID": str(model_dir),
        "HEIRLOOM_QWEN__DEVICE": DEVICE,
        "HEIRLOOM_QWEN__DTYPE": "float32",
        "HEIRLOOM_QWEN__STEPS": str(STEPS),
        "HEIRLOOM_QWEN__WORKING_PIXELS": str(WORKING_PIXELS),
        "HEIRLOOM_QWEN__LORA_ID": "",
    }.items():
        monkeypatch.setenv(name, value)
    sent: list[tuple[str, Any]] = []
    runpod = pytest.importorskip("runpod")
    monkeypatch.setattr(
        runpod.serverless, "progress_update", lambda job, body: sent.append((job["id"], body))
    )
    handler_module._configured_engine.cache_clear()
    buffer = io.BytesIO()
    photo((72, 48)).save(buffer, "JPEG")
    job = {
        "id": "rp-42",
        "input": {
            "image_base64": base64.b64encode(buffer.getvalue()).decode(),
            "operations": ["restore"],
            "output_format": "PNG",
            "job_ref": "job-42",
            "seed": 99,
        },
    }
    try:
        output = handler_module.handler(job)
        engine = handler_module._configured_engine()
    finally:
        handler_module._configured_engine.cache_clear()

    assert isinstance(engine, QwenImageEditEngine)
    assert output["engine"] == "qwen-image-edit"
    assert (output["width"], output["height"]) == (72, 48)
    decoded = Image.open(io.BytesIO(base64.b64decode(output["image_base64"])))
    assert (decoded.format, decoded.size) == ("PNG", (72, 48))
    assert [body["stage"] for _, body in sent] == [
        "loading",
        "encoding",
        "denoising",
        "denoising",
        "decoding",
        "uploading",
    ]
    assert {job_id for job_id, _ in sent} == {"rp-42"}
    assert sent[-1][1] == {"stage": "uploading", "step": 2, "total": 2, "percent": 100}
    # The real sequence through the backend's mapping: never backwards.
    figures = [model_progress(body) for _, body in sent]
    assert figures == sorted(figures, key=lambda f: f or 0)
    assert None not in figures
