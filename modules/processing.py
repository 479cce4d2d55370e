"""The generation request and result, with the A1111 attribute names that scripts read and write.

`GenerationRequest` is what the API builds from a txt2img/img2img body (defaults resolved once) and what
always-on scripts receive as `p`. `GenerationResult` is what the engine returns (A1111's `Processed`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass
class GenerationRequest:
    mode: str = "txt2img"  # "txt2img" or "img2img"
    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = field(default_factory=list)
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str = "Euler"
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool = False
    tiling: bool = False
    do_not_save_samples: bool = True
    do_not_save_grid: bool = True
    eta: float | None = None
    denoising_strength: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] = field(default_factory=dict)
    override_settings_restore_afterwards: bool = True
    disable_extra_networks: bool = False
    comments: dict[str, Any] = field(default_factory=dict)
    # txt2img: hires fix
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    # img2img
    init_images: list[Image.Image] = field(default_factory=list)
    resize_mode: int = 0
    image_cfg_scale: float | None = None
    mask: Image.Image | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float | None = None
    # Set by the server, not by callers
    sd_model_checkpoint: str | None = None
    task_id: str | None = None
    user: str | None = None
    is_api: bool = True
    extra_generation_params: dict[str, Any] = field(default_factory=dict)
    # Filled while running (A1111 names)
    all_prompts: list[str] = field(default_factory=list)
    all_negative_prompts: list[str] = field(default_factory=list)
    all_seeds: list[int] = field(default_factory=list)
    all_subseeds: list[int] = field(default_factory=list)
    script_args: list[Any] = field(default_factory=list)
    scripts: Any = None  # the ScriptRunner of this tab (A1111 `p.scripts`)
    script_name: str | None = None
    alwayson_entries: dict[str, Any] = field(default_factory=dict)  # plain values, for service extensions
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


@dataclass
class GenerationResult:
    images: list[Image.Image]
    infotexts: list[str]
    info: dict[str, Any]
    seeds: list[int]
    subseeds: list[int]
    index_of_first_image: int = 0
    interrupted: bool = False
    samples_format: str = "png"  # the format in effect while generating (override_settings included)


def process_images(p: GenerationRequest) -> GenerationResult:
    """A1111's `processing.process_images`: run a generation now, inside the running task.

    Selectable scripts call this from `run(p, ...)` (possibly several times, e.g. the x/y/z plot).
    """
    from modules import shared

    return shared.services.generation.process_images(p)
