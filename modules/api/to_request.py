"""Builds a validated `GenerationRequest` from a txt2img/img2img body, resolving A1111 defaults once."""
from __future__ import annotations

from dataclasses import dataclass, field

from modules import images as image_utils
from modules.api.models import GenerationBody, Img2ImgBody, Txt2ImgBody
from modules.engine import hires, samplers
from modules.errors import InvalidRequestError, NotFoundError
from modules.processing import GenerationRequest
from modules.request_limits import RequestLimits, check_request


@dataclass(frozen=True)
class Limits:
    max_size: int = 2048
    max_batch_size: int = 16
    max_images: int = 64
    max_steps: int = 150
    max_input_pixels: int = 4096 * 4096
    costs: RequestLimits = field(default_factory=RequestLimits)  # prompt, seed and script bounds

    @classmethod
    def from_cmd_opts(cls, cmd_opts) -> Limits:
        return cls(max_size=cmd_opts.max_width, max_batch_size=cmd_opts.max_batch_size,
                   max_images=cmd_opts.max_batch_size * 4, max_input_pixels=cmd_opts.max_input_pixels,
                   costs=RequestLimits.from_cmd_opts(cmd_opts))


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidRequestError(f"{name} must be between {low} and {high}, got {value}", field=name)


def _value(body, name: str, default):
    value = getattr(body, name)
    return default if value is None else value


def build_request(body: GenerationBody, limits: Limits, options) -> GenerationRequest:
    mode = "img2img" if isinstance(body, Img2ImgBody) else "txt2img"
    width, height = _value(body, "width", 512), _value(body, "height", 512)
    for name, size in (("width", width), ("height", height)):
        _check_range(name, size, 8, limits.max_size)
    steps = _value(body, "steps", 50)
    _check_range("steps", steps, 1, limits.max_steps)
    batch_size, n_iter = _value(body, "batch_size", 1), _value(body, "n_iter", 1)
    _check_range("batch_size", batch_size, 1, limits.max_batch_size)
    _check_range("n_iter", n_iter, 1, limits.max_images)
    if batch_size * n_iter > limits.max_images:
        raise InvalidRequestError(f"batch_size * n_iter must be at most {limits.max_images}", field="n_iter")
    cfg_scale = float(_value(body, "cfg_scale", 7.0))
    _check_range("cfg_scale", cfg_scale, 0, 100)
    subseed_strength = float(_value(body, "subseed_strength", 0))
    _check_range("subseed_strength", subseed_strength, 0, 1)
    sampler_field = "sampler_name" if body.sampler_name else "sampler_index"
    sampler, schedule = samplers.resolve(body.sampler_name or body.sampler_index, body.scheduler,
                                         field_name=sampler_field)
    overrides = dict(body.override_settings or {})
    for key, value in overrides.items():
        options.validate(key, value, is_api=True)
    request = GenerationRequest(
        mode=mode,
        prompt=_value(body, "prompt", ""),
        negative_prompt=_value(body, "negative_prompt", ""),
        styles=list(body.styles or []),
        seed=_value(body, "seed", -1),
        subseed=_value(body, "subseed", -1),
        subseed_strength=subseed_strength,
        seed_resize_from_h=_value(body, "seed_resize_from_h", -1),
        seed_resize_from_w=_value(body, "seed_resize_from_w", -1),
        sampler_name=sampler.name,
        scheduler=schedule.label,
        batch_size=batch_size,
        n_iter=n_iter,
        steps=steps,
        cfg_scale=cfg_scale,
        width=width - width % 8,
        height=height - height % 8,
        restore_faces=bool(body.restore_faces if body.restore_faces is not None else options.get("face_restoration")),
        tiling=bool(body.tiling if body.tiling is not None else options.get("tiling")),
        do_not_save_samples=not body.save_images,
        do_not_save_grid=not body.save_images,
        eta=body.eta,
        denoising_strength=body.denoising_strength,
        s_min_uncond=body.s_min_uncond,
        s_churn=body.s_churn,
        s_tmax=body.s_tmax,
        s_tmin=body.s_tmin,
        s_noise=body.s_noise,
        override_settings=overrides,
        override_settings_restore_afterwards=_value(body, "override_settings_restore_afterwards", True),
        disable_extra_networks=bool(body.disable_extra_networks),
        comments=dict(body.comments or {}),
        script_args=list(body.script_args or []),
    )
    if isinstance(body, Txt2ImgBody):
        _fill_txt2img(request, body, limits)
    elif isinstance(body, Img2ImgBody):
        _fill_img2img(request, body, limits)
    check_request(request, limits.costs)  # prompt cost, seeds, seed resize (modules/request_limits.py)
    return request


def _fill_txt2img(request: GenerationRequest, body: Txt2ImgBody, limits: Limits) -> None:
    # A1111's legacy first-pass size: generate at firstphase_width x firstphase_height (a 0 keeps that side).
    first_w, first_h = _value(body, "firstphase_width", 0), _value(body, "firstphase_height", 0)
    if first_w or first_h:
        for name, size in (("firstphase_width", first_w), ("firstphase_height", first_h)):
            if size:
                _check_range(name, size, 8, limits.max_size)
        request.width = (first_w or request.width) // 8 * 8
        request.height = (first_h or request.height) // 8 * 8
    request.enable_hr = bool(body.enable_hr)
    request.hr_scale = float(_value(body, "hr_scale", 2.0))
    request.hr_upscaler = body.hr_upscaler
    request.hr_second_pass_steps = _value(body, "hr_second_pass_steps", 0)
    request.hr_resize_x = _value(body, "hr_resize_x", 0)
    request.hr_resize_y = _value(body, "hr_resize_y", 0)
    request.hr_sampler_name = body.hr_sampler_name
    request.hr_scheduler = body.hr_scheduler
    request.hr_prompt = _value(body, "hr_prompt", "")
    request.hr_negative_prompt = _value(body, "hr_negative_prompt", "")
    if request.enable_hr:
        _check_hires(request, limits)


def _check_hires(request: GenerationRequest, limits: Limits) -> None:
    """Hires fields are only checked when enable_hr is on (A1111 ignores them otherwise)."""
    _check_range("hr_scale", request.hr_scale, 1, 8)
    _check_range("hr_second_pass_steps", request.hr_second_pass_steps, 0, limits.max_steps)
    for name in ("hr_resize_x", "hr_resize_y"):
        _check_range(name, getattr(request, name), 0, limits.max_size)
    if request.denoising_strength is not None:
        _check_range("denoising_strength", request.denoising_strength, 0, 1)
    valid = hires.upscaler_names()
    if request.hr_upscaler is not None and request.hr_upscaler not in valid:
        raise InvalidRequestError(f"hr_upscaler: unknown upscaler {request.hr_upscaler!r}; valid: {', '.join(valid)}",
                                  field="hr_upscaler")
    if request.hr_sampler_name and request.hr_sampler_name != hires.SAME_SAMPLER:
        sampler, schedule = samplers.resolve(request.hr_sampler_name, None, field_name="hr_sampler_name")
        request.hr_sampler_name = sampler.name
        if schedule.name != "automatic" and not request.hr_scheduler:
            request.hr_scheduler = schedule.label  # "DPM++ 2M Karras" as hr_sampler_name
    if request.hr_scheduler and request.hr_scheduler != hires.SAME_SCHEDULER:
        request.hr_scheduler = samplers.find_schedule(request.hr_scheduler, field_name="hr_scheduler").label
    width, height = hires.final_size(request.width, request.height, request.hr_scale,
                                     request.hr_resize_x, request.hr_resize_y)
    if not (8 <= width <= limits.max_size and 8 <= height <= limits.max_size):
        raise InvalidRequestError(f"hr_scale: the hires size {width}x{height} must be between 8 and {limits.max_size} "
                                  "on each side", field="hr_scale" if not request.hr_resize_x else "hr_resize_x")


def _fill_img2img(request: GenerationRequest, body: Img2ImgBody, limits: Limits) -> None:
    if not body.init_images:
        raise NotFoundError("Init image not found", field="init_images")
    request.init_images = [
        image_utils.decode_base64_image(data, field=f"init_images[{i}]", max_pixels=limits.max_input_pixels)
        for i, data in enumerate(body.init_images)
    ]
    if body.mask:
        request.mask = image_utils.decode_base64_image(body.mask, field="mask", max_pixels=limits.max_input_pixels)
    resize_mode = _value(body, "resize_mode", 0)
    _check_range("resize_mode", resize_mode, 0, 3)
    request.resize_mode = resize_mode
    strength = float(_value(body, "denoising_strength", 0.75))
    _check_range("denoising_strength", strength, 0, 1)
    request.denoising_strength = strength
    request.image_cfg_scale = body.image_cfg_scale
    blur_x, blur_y = _value(body, "mask_blur_x", 4), _value(body, "mask_blur_y", 4)
    if body.mask_blur is not None:
        blur_x = blur_y = body.mask_blur
    for name, blur in (("mask_blur", blur_x), ("mask_blur", blur_y)):
        _check_range(name, blur, 0, 64)
    request.mask_blur_x, request.mask_blur_y = blur_x, blur_y
    request.mask_round = bool(_value(body, "mask_round", True))
    fill = _value(body, "inpainting_fill", 0)
    _check_range("inpainting_fill", fill, 0, 3)
    request.inpainting_fill = fill
    request.inpaint_full_res = bool(_value(body, "inpaint_full_res", True))
    request.inpaint_full_res_padding = _value(body, "inpaint_full_res_padding", 0)
    request.inpainting_mask_invert = int(_value(body, "inpainting_mask_invert", 0))
    request.initial_noise_multiplier = body.initial_noise_multiplier
