"""Request and response bodies with A1111 field names and defaults (ref a1111-api.md §3, §8).

Unknown keys are ignored, as in A1111 (pydantic's default `extra="ignore"`).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class GenerationBody(_Body):
    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list[str] | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0
    seed_resize_from_h: int | None = -1
    seed_resize_from_w: int | None = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool | None = False
    do_not_save_grid: bool | None = False
    eta: float | None = None
    denoising_strength: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool | None = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool | None = False
    firstpass_image: str | None = None
    comments: dict[str, Any] | None = None
    sampler_index: str | None = "Euler"
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    force_task_id: str | None = None
    infotext: str | None = None


class Txt2ImgBody(GenerationBody):
    enable_hr: bool | None = False
    firstphase_width: int | None = 0
    firstphase_height: int | None = 0
    hr_scale: float | None = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = 0
    hr_resize_x: int | None = 0
    hr_resize_y: int | None = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str | None = ""
    hr_negative_prompt: str | None = ""


class Img2ImgBody(GenerationBody):
    init_images: list[str] | None = None
    resize_mode: int | None = 0
    denoising_strength: float | None = 0.75
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int | None = 4
    mask_blur_y: int | None = 4
    mask_blur: int | None = None
    mask_round: bool | None = True
    inpainting_fill: int | None = 0
    inpaint_full_res: bool | None = True
    inpaint_full_res_padding: int | None = 0
    inpainting_mask_invert: int | None = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool = False


class GenerationResponse(BaseModel):
    images: list[str] | None = None
    parameters: dict[str, Any]
    info: str


class PngInfoBody(_Body):
    image: str


class ExtrasBaseBody(_Body):
    resize_mode: int = Field(0, ge=0, le=1)
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0, ge=0, le=1)
    codeformer_visibility: float = Field(0, ge=0, le=1)
    codeformer_weight: float = Field(0, ge=0, le=1)
    upscaling_resize: float = Field(2, gt=0, le=64)  # bounded: 1e308 would overflow the size computation
    upscaling_resize_w: int = Field(512, ge=1, le=65536)
    upscaling_resize_h: int = Field(512, ge=1, le=65536)
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0, ge=0, le=1)
    upscale_first: bool = False


class ExtrasSingleBody(ExtrasBaseBody):
    image: str = ""


class ImageListItem(_Body):
    data: str
    name: str = ""


class ExtrasBatchBody(ExtrasBaseBody):
    imageList: list[ImageListItem]


class InterrogateBody(_Body):
    image: str = ""
    model: str = "clip"
