"""The generation request: every A1111 txt2img/img2img field declared once, with its default, range and tab.

`GenerationRequest` is what the pipeline builds from a request body, what a task's payload restores and what
scripts receive as `p` (A1111 attribute names). The HTTP bodies (modules/api/models.py) are derived from the
fields carrying `api` metadata; the validator (modules/generation/limits.py) reads the same metadata. Fields
without it are set by the server or while running.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

MAX_SEED = 2**63 - 1  # seeds are -1 (random) or 0..MAX_SEED
TXT2IMG = ("txt2img",)
IMG2IMG = ("img2img",)
BOTH = ("txt2img", "img2img")
_SAME = object()


@dataclass(frozen=True)
class ApiField:
    """How a request field appears at the HTTP edge and how it is checked.

    `low`/`high` bound numbers (a string names a `Limits` attribute); `when` names a boolean field that must be
    true for the check to apply (A1111 ignores hires fields without enable_hr); `image` is "one" or "many" for
    fields that are images in the request and base64 strings (storage keys in a task payload) at the edge.
    """

    modes: tuple[str, ...] = BOTH
    low: float | str | None = None
    high: float | str | None = None
    when: str | None = None
    body_default: Any = _SAME
    image: str | None = None
    doc: str = ""

    def edge_default(self, default: Any) -> Any:
        return default if self.body_default is _SAME else self.body_default


def api(default: Any = None, *, factory: Any = None, **rule: Any) -> Any:
    """A dataclass field that is part of the A1111 request (see ApiField for `rule`)."""
    metadata = {"api": ApiField(**rule)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class GenerationRequest:
    mode: str = "txt2img"  # "txt2img" or "img2img"
    prompt: str = api("")
    negative_prompt: str = api("")
    styles: list[str] = api(factory=list, body_default=None)
    seed: int = api(-1, low=-1, high=MAX_SEED)
    subseed: int = api(-1, low=-1, high=MAX_SEED)
    subseed_strength: float = api(0.0, low=0, high=1)
    seed_resize_from_h: int = api(-1, low=-1, high="max_size")  # -1 or 0: off
    seed_resize_from_w: int = api(-1, low=-1, high="max_size")
    sampler_name: str = api("Euler", body_default=None, doc="sampler name or alias (sampler_index is the old name)")
    scheduler: str | None = api(None)
    batch_size: int = api(1, low=1, high="max_batch_size")
    n_iter: int = api(1, low=1, high="max_images")
    steps: int = api(50, low=1, high="max_steps")
    cfg_scale: float = api(7.0, low=0, high=100)
    width: int = api(512, low=8, high="max_size")
    height: int = api(512, low=8, high="max_size")
    restore_faces: bool = api(False, body_default=None, doc="null: the face_restoration option")
    tiling: bool = api(False, body_default=None, doc="null: the tiling option")
    do_not_save_samples: bool = api(True, body_default=False)
    do_not_save_grid: bool = api(True, body_default=False)
    eta: float | None = api(None, low=0, high=1)
    denoising_strength: float | None = api(None, low=0, high=1)
    s_min_uncond: float | None = api(None)
    s_churn: float | None = api(None)
    s_tmax: float | None = api(None)
    s_tmin: float | None = api(None)
    s_noise: float | None = api(None)
    override_settings: dict[str, Any] = api(factory=dict, body_default=None)
    override_settings_restore_afterwards: bool = api(True)
    disable_extra_networks: bool = api(False)
    comments: dict[str, Any] = api(factory=dict, body_default=None)
    script_name: str | None = api(None)
    script_args: list[Any] = api(factory=list)
    # txt2img: hires fix
    enable_hr: bool = api(False, modes=TXT2IMG)
    hr_scale: float = api(2.0, modes=TXT2IMG, low=1, high=8, when="enable_hr")
    hr_upscaler: str | None = api(None, modes=TXT2IMG)
    hr_second_pass_steps: int = api(0, modes=TXT2IMG, low=0, high="max_steps", when="enable_hr")
    hr_resize_x: int = api(0, modes=TXT2IMG, low=0, high="max_size", when="enable_hr")
    hr_resize_y: int = api(0, modes=TXT2IMG, low=0, high="max_size", when="enable_hr")
    hr_sampler_name: str | None = api(None, modes=TXT2IMG)
    hr_scheduler: str | None = api(None, modes=TXT2IMG)
    hr_prompt: str = api("", modes=TXT2IMG)
    hr_negative_prompt: str = api("", modes=TXT2IMG)
    # img2img
    init_images: list[Image.Image] = api(factory=list, modes=IMG2IMG, image="many", body_default=None)
    resize_mode: int = api(0, modes=IMG2IMG, low=0, high=3)
    image_cfg_scale: float | None = api(None, modes=IMG2IMG)
    mask: Image.Image | None = api(None, modes=IMG2IMG, image="one")
    mask_blur_x: int = api(4, modes=IMG2IMG, low=0, high=64)
    mask_blur_y: int = api(4, modes=IMG2IMG, low=0, high=64)
    mask_round: bool = api(True, modes=IMG2IMG)
    inpainting_fill: int = api(0, modes=IMG2IMG, low=0, high=3)
    inpaint_full_res: bool = api(True, modes=IMG2IMG)
    inpaint_full_res_padding: int = api(0, modes=IMG2IMG, low=0, high="max_size")
    inpainting_mask_invert: int = api(0, modes=IMG2IMG, low=0, high=1)
    initial_noise_multiplier: float | None = api(None, modes=IMG2IMG, low=0, high=10)
    # Set by the server, not by callers
    sd_model_checkpoint: str | None = None  # the checkpoint title, resolved when the request is built
    style_prompts: list[tuple[str, str]] = field(default_factory=list)  # (prompt, negative) of `styles`, resolved
    task_id: str | None = None
    user: str | None = None
    is_api: bool = True
    extra_generation_params: dict[str, Any] = field(default_factory=dict)
    alwayson_entries: dict[str, Any] = field(default_factory=dict)  # plain values, for service extensions
    # Filled while running (A1111 names)
    all_prompts: list[str] = field(default_factory=list)
    all_negative_prompts: list[str] = field(default_factory=list)
    all_seeds: list[int] = field(default_factory=list)
    all_subseeds: list[int] = field(default_factory=list)
    scripts: Any = None  # the ScriptRunner of this tab (A1111 `p.scripts`), attached in the worker
    latent_mask: Image.Image | None = None  # scripts (outpainting): the mask of the latent blend, if not `mask`
    inpainting_mask_weight: float | None = None  # scripts: overrides the inpainting_mask_weight option
    is_using_inpainting_conditioning: bool = False  # a 9-channel (inpainting) UNet got its masked-image input
    soft_inpainting: dict[str, float] | None = None  # set by the "Soft Inpainting" always-on script
    unet_patches: list[Any] = field(default_factory=list)  # set by scripts: modules/engine/unet_patches.py
    # The current batch (A1111 names; set before the batch hooks run)
    prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    subseeds: list[int] = field(default_factory=list)
    iteration: int = 0
    batch_index: int = 0
    # Progress of a selectable script that runs several generations (A1111 `state.job_no` / `state.job_count`):
    # this generation's first job number and the script's total (0 = just this generation's own jobs)
    job_offset: int = 0
    job_total: int = 0

    @property
    def sampler_index(self) -> str:
        return self.sampler_name

    @property
    def is_img2img(self) -> bool:
        return self.mode == "img2img"


# The request fields restored from a task payload besides the `api` ones (plain JSON values).
SERVER_FIELDS = ("mode", "sd_model_checkpoint", "style_prompts", "task_id", "user", "is_api", "alwayson_entries")


def api_fields(mode: str | None = None) -> list[tuple[dataclasses.Field, ApiField]]:
    """The request fields of the A1111 body (of one tab when `mode` is given), in declaration order."""
    out = []
    for f in dataclasses.fields(GenerationRequest):
        rule = f.metadata.get("api")
        if rule is not None and (mode is None or mode in rule.modes):
            out.append((f, rule))
    return out


def field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


@dataclass
class GenerationResult:
    """What a generation returns (A1111's `Processed`)."""

    images: list[Image.Image]
    infotexts: list[str]
    info: dict[str, Any]
    seeds: list[int]
    subseeds: list[int]
    index_of_first_image: int = 0
    interrupted: bool = False
    samples_format: str = "png"  # the format in effect while generating (override_settings included)
