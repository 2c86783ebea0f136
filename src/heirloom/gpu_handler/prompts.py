"""What the GPU engine asks the model: one prompt per operation set, and the negative prompt.

Every prompt ends with the same instruction to keep the people who they are: changed faces
(identity drift) are the first complaint about AI photo restoration.
"""

from __future__ import annotations

from heirloom.domain.jobs import Operation

KEEP_PEOPLE = (
    "Keep every face, facial expression and pose, each person's identity, age and features, "
    "and the composition and framing exactly as they are; do not add, remove or move anything."
)

PROMPTS: dict[tuple[Operation, ...], str] = {
    (Operation.RESTORE,): (
        "Restore this old damaged photograph: remove scratches, dust, spots, creases and tears, "
        "repair fading and uneven contrast, and reduce grain. Keep its original colours, or "
        f"black and white. {KEEP_PEOPLE}"
    ),
    (Operation.COLORIZE,): (
        "Colorize this black-and-white photograph with natural, realistic colours: true skin "
        "tones, hair, clothing, sky, foliage and buildings as they would have looked. "
        f"{KEEP_PEOPLE}"
    ),
    (Operation.RESTORE, Operation.COLORIZE): (
        "Restore and colorize this old damaged photograph: remove scratches, dust, spots, "
        "creases and tears, repair fading and reduce grain, then give it natural, realistic "
        "colours: true skin tones, hair, clothing, sky, foliage and buildings. "
        f"{KEEP_PEOPLE}"
    ),
}

NEGATIVE_PROMPT = (
    "changed identity, different face, distorted face, altered expression, extra people, "
    "missing people, changed pose, cropped or reframed, text, watermark, cartoon, painting, "
    "oversaturated colours, plastic skin, blur"
)


def prompt_for(operations: tuple[Operation, ...]) -> str:
    """The prompt for `operations` in canonical order (restore before colorize)."""
    return PROMPTS[tuple(op for op in Operation if op in operations)]
