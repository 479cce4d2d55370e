"""Request body -> validated GenerationRequest, with everything it names resolved once: sampler and schedule,
checkpoint, VAE, styles and scripts. Torch-free: the API process can build and check requests without a model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules import images as image_utils
from modules.engine import samplers
from modules.errors import NotFoundError
from modules.generation import hires
from modules.generation.bodies import MODE_DEFAULTS, GenerationBody, Img2ImgBody, Txt2ImgBody
from modules.generation.costs import check_plan
from modules.generation.limits import Limits, check_range, check_request
from modules.generation.request import GenerationRequest, api_fields, field_default


@dataclass
class BuildContext:
    """What building a request needs to look up (the registries are the server's, read-only here)."""

    limits: Limits
    options: Any  # modules.options.Options
    checkpoints: Any  # modules.model_registry.checkpoints.CheckpointRegistry
    vaes: Any  # modules.model_registry.vae.VaeRegistry
    styles: Any  # modules.styles.StyleDatabase
    scripts: Any  # modules.scripts_runner.ScriptRegistry


def mode_of(body: GenerationBody) -> str:
    return "img2img" if isinstance(body, Img2ImgBody) else "txt2img"


def build_request(body: GenerationBody, ctx: BuildContext, *, is_api: bool = True,
                  user: str | None = None) -> GenerationRequest:
    mode = mode_of(body)
    p = GenerationRequest(mode=mode, is_api=is_api, user=user)
    defaults = MODE_DEFAULTS.get(mode, {})
    for f, rule in api_fields(mode):
        if rule.image:
            continue
        value = getattr(body, f.name)
        setattr(p, f.name, defaults.get(f.name, field_default(f)) if value is None else value)
    p.styles, p.override_settings, p.comments = list(p.styles), dict(p.override_settings), dict(p.comments)
    p.script_args = list(p.script_args)
    p.do_not_save_samples = p.do_not_save_grid = not body.save_images
    if body.restore_faces is None:
        p.restore_faces = bool(ctx.options.get("face_restoration"))
    if body.tiling is None:
        p.tiling = bool(ctx.options.get("tiling"))
    p.cfg_scale, p.subseed_strength = float(p.cfg_scale), float(p.subseed_strength)
    for name in ("width", "height"):
        check_range(name, getattr(p, name), 8, ctx.limits.max_size)
        setattr(p, name, getattr(p, name) // 8 * 8)
    _resolve_sampler(p, body)
    _resolve_models(p, ctx)
    p.style_prompts = ctx.styles.resolve(p.styles)
    if isinstance(body, Txt2ImgBody):
        _fill_txt2img(p, body, ctx.limits)
    elif isinstance(body, Img2ImgBody):
        _fill_img2img(p, body, ctx.limits)
    _resolve_scripts(p, body, ctx)
    check_request(p, ctx.limits)
    return p


def _resolve_sampler(p: GenerationRequest, body: GenerationBody) -> None:
    sampler_field = "sampler_name" if body.sampler_name else "sampler_index"
    sampler, schedule = samplers.resolve(body.sampler_name or body.sampler_index, body.scheduler,
                                         field_name=sampler_field)
    p.sampler_name, p.scheduler = sampler.name, schedule.label


def _resolve_models(p: GenerationRequest, ctx: BuildContext) -> None:
    """override_settings checked key by key; the checkpoint is the override's or the current one, as a title."""
    for key, value in p.override_settings.items():
        p.override_settings[key] = ctx.options.validate(key, value, is_api=True)
    wanted = p.override_settings.get("sd_model_checkpoint") or ctx.options.get("sd_model_checkpoint") or None
    if wanted:
        field = "override_settings" if p.override_settings.get("sd_model_checkpoint") else "sd_model_checkpoint"
        p.sd_model_checkpoint = ctx.checkpoints.get(wanted, field=field).title
    else:
        first = ctx.checkpoints.first()
        p.sd_model_checkpoint = first.title if first is not None else None
    if "sd_model_checkpoint" in p.override_settings:
        p.override_settings["sd_model_checkpoint"] = p.sd_model_checkpoint
    if "sd_vae" in p.override_settings:
        ctx.vaes.check(p.override_settings["sd_vae"], field="override_settings")


def _resolve_scripts(p: GenerationRequest, body: GenerationBody, ctx: BuildContext) -> None:
    runner = ctx.scripts.runner(p.mode)
    script, p.script_args = runner.build_args(body.script_name, body.script_args or [], body.alwayson_scripts)
    p.script_name = body.script_name if script is not None else None
    p.alwayson_entries = runner.plain_alwayson_entries(body.alwayson_scripts)
    runner.check(p)  # the scripts' own argument checks (Script.check), before anything is queued
    if script is not None:  # a script's generations count against the image cap before it is queued
        check_plan(runner.plan(p), ctx.limits, script=str(p.script_name))


def _fill_txt2img(p: GenerationRequest, body: Txt2ImgBody, limits: Limits) -> None:
    # A1111's legacy first-pass size: generate at firstphase_width x firstphase_height (a 0 keeps that side).
    first_w, first_h = body.firstphase_width or 0, body.firstphase_height or 0
    for name, size in (("firstphase_width", first_w), ("firstphase_height", first_h)):
        if size:
            check_range(name, size, 8, limits.max_size)
    if first_w or first_h:
        p.width, p.height = (first_w or p.width) // 8 * 8, (first_h or p.height) // 8 * 8
    p.hr_scale = float(p.hr_scale)
    if not p.enable_hr:
        return
    if p.hr_sampler_name and p.hr_sampler_name != hires.SAME_SAMPLER:
        sampler, schedule = samplers.resolve(p.hr_sampler_name, None, field_name="hr_sampler_name")
        p.hr_sampler_name = sampler.name
        if schedule.name != "automatic" and not p.hr_scheduler:
            p.hr_scheduler = schedule.label  # "DPM++ 2M Karras" as hr_sampler_name
    if p.hr_scheduler and p.hr_scheduler != hires.SAME_SCHEDULER:
        p.hr_scheduler = samplers.find_schedule(p.hr_scheduler, field_name="hr_scheduler").label


def _fill_img2img(p: GenerationRequest, body: Img2ImgBody, limits: Limits) -> None:
    if not body.init_images:
        raise NotFoundError("Init image not found", field="init_images")
    p.init_images = [image_utils.decode_base64_image(data, field=f"init_images[{i}]", max_pixels=limits.max_input_pixels)
                     for i, data in enumerate(body.init_images)]
    if body.mask:
        p.mask = image_utils.decode_base64_image(body.mask, field="mask", max_pixels=limits.max_input_pixels)
    if body.mask_blur is not None:
        check_range("mask_blur", body.mask_blur, 0, 64)
        p.mask_blur_x = p.mask_blur_y = body.mask_blur
    p.denoising_strength = float(p.denoising_strength if p.denoising_strength is not None else 0.75)
    p.inpainting_mask_invert = int(p.inpainting_mask_invert)

