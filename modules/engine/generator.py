"""One generation: seeds, prompts, sampling, decoding and infotext, for txt2img and img2img."""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules import infotext, upscalers
from modules.engine import hires, img2img, inpaint_cond, samplers
from modules.engine.cond_builder import ConditioningBuilder
from modules.engine.kdiffusion.denoiser import alphas_cumprod_from_config
from modules.engine.nan_check import check_for_nans
from modules.engine.noise import ImageRNG, RandomSource
from modules.engine.sampling import DenoiseInputs, MaskBlend, StepControl, denoise
from modules.engine.soft_inpainting import SoftInpainting, blend_step
from modules.engine.tiling import tiled
from modules.processing import GenerationRequest, GenerationResult

logger = logging.getLogger(__name__)

VERSION = "easel-0.1.0"
FACE_RESTORATION_NONE = "none installed"  # infotext "Face restoration" when restore_faces finds no restorer installed


@dataclass
class ModelView:
    """What the generator needs from a loaded model (see modules/model_registry/loader.py)."""

    pipe: object
    family: str
    prediction_type: str
    model_name: str  # checkpoint stem for the infotext "Model"
    shorthash: str | None
    checkpoint_title: str
    vae_name: str | None = None
    vae_hash: str | None = None


def resolve_seed(seed: int | None) -> int:
    if seed is None or seed == -1 or seed == "":
        return random.randrange(4294967294)
    return int(seed)


def fill_seeds_and_prompts(p: GenerationRequest) -> None:
    """A1111 §4: image k gets seed+k (all equal when subseed_strength > 0), subseed+k always."""
    n = p.batch_size * p.n_iter
    seed, subseed = resolve_seed(p.seed), resolve_seed(p.subseed)
    p.seed, p.subseed = seed, subseed
    p.all_seeds = [seed if p.subseed_strength > 0 else seed + k for k in range(n)]
    p.all_subseeds = [subseed + k for k in range(n)]
    p.all_prompts = [p.prompt] * n
    p.all_negative_prompts = [p.negative_prompt] * n


class Generator:
    """Runs `GenerationRequest`s on a loaded model. One instance per worker; not thread-safe."""

    def __init__(self, options, precision, *, disable_nan_check: bool = False):
        self.options = options
        self.precision = precision
        self.disable_nan_check = disable_nan_check  # --disable-nan-check; the option of the same name also turns it off
        self.networks: Any = None  # modules.engine.networks.ExtraNetworks: LoRA + textual inversion (set by services)
        self.face_restorers: Any = None  # modules.engine.face_restoration.FaceRestorers (set by services)

    def run(self, p: GenerationRequest, model: ModelView, control: StepControl,
            on_job: Callable[[int, int], None] | None = None) -> GenerationResult:
        started = time.perf_counter()
        pipe = model.pipe
        sampler, schedule = samplers.resolve(p.sampler_name, p.scheduler)
        if not p.all_seeds:
            fill_seeds_and_prompts(p)
        embeddings = self.networks.embedding_lookup(pipe) if self.networks is not None else None
        builder = ConditioningBuilder.for_pipe(pipe, model.family, self.options, embeddings=embeddings)
        if p.restore_faces:
            p.extra_generation_params["Face restoration"] = (self.face_restorers.label() if self.face_restorers
                                                             is not None else FACE_RESTORATION_NONE)
        hr = hires.plan(p, sampler, schedule)
        jobs = 2 if hr is not None else 1  # A1111 counts the hires pass as a job of its own

        def job(k: int) -> None:
            if on_job is not None:
                on_job(p.job_offset + k, p.job_total or p.n_iter * jobs)

        images: list[Image.Image] = []
        infotexts: list[str] = []
        with tiled(pipe, p.tiling), upscalers.stop_check(control.stop_requested):
            for n in range(p.n_iter):
                if control.interrupted:
                    break
                job(n * jobs)
                if hr is not None:
                    hr.on_start = lambda n=n: job(n * jobs + 1)
                batch_images = self._run_iteration(p, model, sampler, schedule, builder, n, control, hr)
                control.skipped = False
                for k, image in enumerate(batch_images):
                    images.append(image)
                    infotexts.append(self.infotext(p, model, sampler, schedule, n * p.batch_size + k))
        info = self.info_dict(p, model, sampler, infotexts)
        logger.info("%s: %d image(s) %dx%d, %d steps in %.2fs", p.mode, len(images), p.width, p.height, p.steps,
                    time.perf_counter() - started)
        return GenerationResult(images=images, infotexts=infotexts, info=info, seeds=p.all_seeds[:len(images)],
                                subseeds=p.all_subseeds[:len(images)], interrupted=control.interrupted)

    def _run_iteration(self, p: GenerationRequest, model: ModelView, sampler, schedule, builder, n: int,
                       control: StepControl, hr: hires.HiresPlan | None = None) -> list[Image.Image]:
        """One batch with A1111's script hooks around it; scripts may edit p.prompts / p.seeds first."""
        from modules.scripts import PostprocessBatchListArgs, PostprocessImageArgs

        runner = p.scripts
        batch = slice(n * p.batch_size, (n + 1) * p.batch_size)
        p.iteration = n
        p.prompts, p.negative_prompts = p.all_prompts[batch], p.all_negative_prompts[batch]
        p.seeds, p.subseeds = p.all_seeds[batch], p.all_subseeds[batch]
        if runner is not None:
            runner.before_process_batch(p, None, n, p.prompts, p.seeds, p.subseeds)
            runner.process_batch(p, None, n, p.prompts, p.seeds, p.subseeds)
        images, prepared = self._run_batch_with_networks(p, model, sampler, schedule, builder, control, hr)
        if runner is None:
            return [self._composite(image, prepared, i) for i, image in enumerate(images)]
        runner.postprocess_batch(p, None, images, n, p.prompts, p.seeds, p.subseeds)
        batch_list = PostprocessBatchListArgs(images)
        runner.postprocess_batch_list(p, None, batch_list, batch_number=n)
        out = []
        for i, image in enumerate(batch_list.images):
            pp = PostprocessImageArgs(image, i)
            runner.postprocess_image(p, None, pp)
            out.append(self._composite(pp.image, prepared, i))
        return out

    def _composite(self, image: Image.Image, prepared: img2img.PreparedInit | None, index: int) -> Image.Image:
        """A1111's order: face restoration and postprocess_image first, then the inpainting overlay (uncropped into
        the original for "Only masked"); the overlay_inpaint option turns the overlay off."""
        if prepared is None or not self.options.get("overlay_inpaint"):
            return image
        return img2img.apply_overlay(image, prepared, index)

    def _run_batch_with_networks(self, p: GenerationRequest, model: ModelView, sampler, schedule, builder,
                                 control: StepControl, hr: hires.HiresPlan | None = None
                                 ) -> tuple[list[Image.Image], img2img.PreparedInit | None]:
        """Strip `<...>` tags, apply the batch's LoRAs around sampling (restored after), record TI/Lora hashes."""
        if self.networks is None:
            return self._run_batch(p, model, sampler, schedule, builder, control, hr)
        lookup = builder.encoder.embeddings
        with self.networks.batch(p, model.pipe) as active:
            if active.applied:  # the text encoder may be patched: encode with a fresh cache
                builder = ConditioningBuilder.for_pipe(model.pipe, model.family, self.options, embeddings=lookup)
            result = self._run_batch(p, model, sampler, schedule, builder, control, hr)
        self.networks.record_ti_hashes(p, lookup)
        return result

    def _run_batch(self, p: GenerationRequest, model: ModelView, sampler, schedule, builder, control: StepControl,
                   hr: hires.HiresPlan | None = None) -> tuple[list[Image.Image], img2img.PreparedInit | None]:
        pipe = model.pipe
        factor = pipe.vae_scale_factor
        shape = (inpaint_cond.latent_channels(pipe), p.height // factor, p.width // factor)
        rng = self.image_rng(p, shape, factor)
        mask = None
        prepared = None
        image_cond = None
        soft = SoftInpainting.of(p) if p.is_img2img else None
        if p.is_img2img:
            prepared = img2img.prepare(p, pipe, self.options, len(p.seeds), self.random_source())
            image_cond = prepared.image_conditioning
            if prepared.latent_keep is not None:
                mask = MaskBlend(prepared.init_latents, None, prepared.latent_keep,
                                 blend=blend_step(soft) if soft is not None else None)
        elif inpaint_cond.is_inpainting(pipe.unet):
            p.is_using_inpainting_conditioning = True
            image_cond = inpaint_cond.txt2img_conditioning(pipe, len(p.seeds), p.width, p.height)
        conds_at = builder.schedule(p.prompts, p.negative_prompts, sampler.total_steps(p.steps))
        inputs = self.denoise_inputs(
            p, model, sampler, schedule, p.steps, rng, conds_at, builder.time_ids(p.width, p.height),
            init_latents=prepared.init_latents if prepared is not None else None,
            denoising_strength=0.75 if p.denoising_strength is None else float(p.denoising_strength),
            fixed_steps=bool(self.options.get("img2img_fix_steps")), mask=mask,
            noise_multiplier=self._noise_multiplier(p), image_cond=image_cond)
        latents = denoise(inputs, control)
        check_for_nans(latents, "unet", self._nan_check_off())
        if soft is not None and mask is not None:  # the composite follows how much each part changed
            img2img.soft_composite(p, self.options, prepared, latents, soft)
        if hr is not None and not control.stop_requested():
            latents = hires.second_pass(self, p, model, hr, builder, latents, control)
        decoded = self.decode(pipe, latents)
        if p.restore_faces and self.face_restorers is not None:  # A1111: after decoding, before the overlay
            decoded = self.face_restorers.restore_generated(decoded, control.stop_requested)
        return decoded, prepared

    def _nan_check_off(self) -> bool:
        return self.disable_nan_check or bool(self.options.get("disable_nan_check"))

    def random_source(self) -> RandomSource:
        return RandomSource(str(self.options.get("randn_source")), self.precision.device)

    def image_rng(self, p: GenerationRequest, shape: tuple[int, ...], factor: int) -> ImageRNG:
        """The batch's noise source (A1111 `p.rng`): seeds, variation seeds, seed resize, ENSD, randn_source."""
        return ImageRNG(shape, p.seeds, p.subseeds, p.subseed_strength, p.seed_resize_from_h, p.seed_resize_from_w,
                        latent_factor=factor, eta_noise_seed_delta=int(self.options.get("eta_noise_seed_delta")),
                        source=self.random_source())

    def denoise_inputs(self, p: GenerationRequest, model: ModelView, sampler, schedule, steps: int, rng: ImageRNG,
                       conds_at, time_ids, **kwargs) -> DenoiseInputs:
        pipe = model.pipe
        return DenoiseInputs(
            unet=pipe.unet, sampler=sampler, schedule=schedule, steps=steps, rng=rng, conds_at=conds_at,
            cfg_scale=p.cfg_scale, alphas_cumprod=alphas_cumprod_from_config(dict(pipe.scheduler.config)),
            prediction_type=model.prediction_type, options=self.options, seeds=list(p.seeds), family=model.family,
            time_ids=time_ids, eta=p.eta, params=p.extra_generation_params,
            sigma_params={"s_churn": p.s_churn, "s_tmin": p.s_tmin, "s_tmax": p.s_tmax, "s_noise": p.s_noise},
            unet_patches=list(p.unet_patches), **kwargs)

    def _noise_multiplier(self, p: GenerationRequest) -> float:
        if p.initial_noise_multiplier is not None:
            return float(p.initial_noise_multiplier)
        return float(self.options.get("initial_noise_multiplier"))

    @torch.no_grad()
    def decode(self, pipe, latents: torch.Tensor) -> list[Image.Image]:
        vae = pipe.vae
        scaling = vae.config.scaling_factor
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        out = []
        for i in range(latents.shape[0]):
            z = latents[i:i + 1].to(vae.dtype) / scaling + shift
            x = vae.decode(z).sample.float()
            check_for_nans(x, "vae", self._nan_check_off())
            x = torch.nan_to_num(x)  # with the check off, NaNs decode as mid-grey rather than undefined bytes
            x = torch.clamp((x[0] + 1.0) / 2.0, min=0.0, max=1.0)
            # A1111 truncates (astype(np.uint8)) rather than rounds
            x = (255.0 * np.moveaxis(x.cpu().numpy(), 0, 2)).astype(np.uint8)
            out.append(Image.fromarray(np.ascontiguousarray(x)))
        return out

    def infotext(self, p: GenerationRequest, model: ModelView, sampler, schedule, index: int) -> str:
        opts = self.options
        clip_skip = int(opts.get("CLIP_stop_at_last_layers"))
        ensd = int(opts.get("eta_noise_seed_delta"))
        randn_source = str(opts.get("randn_source"))
        params = {
            "Steps": p.steps,
            "Sampler": sampler.name,
            "Schedule type": samplers.infotext_schedule_label(sampler, schedule),
            "CFG scale": p.cfg_scale,
            "Image CFG scale": p.image_cfg_scale if p.is_img2img else None,
            "Seed": p.all_seeds[index],
            "Face restoration": None,
            "Size": f"{p.width}x{p.height}",
            "Model hash": model.shorthash if opts.get("add_model_hash_to_info") else None,
            "Model": model.model_name if opts.get("add_model_name_to_info") else None,
            "VAE hash": model.vae_hash if opts.get("add_vae_hash_to_info") else None,
            "VAE": model.vae_name if opts.get("add_vae_name_to_info") else None,
            "Variation seed": p.all_subseeds[index] if p.subseed_strength > 0 else None,
            "Variation seed strength": p.subseed_strength if p.subseed_strength > 0 else None,
            "Seed resize from": (f"{p.seed_resize_from_w}x{p.seed_resize_from_h}"
                                 if p.seed_resize_from_w > 0 and p.seed_resize_from_h > 0 else None),
            "Denoising strength": p.denoising_strength if p.is_img2img else None,
            "Conditional mask weight": (img2img.mask_weight(p, opts) if p.is_using_inpainting_conditioning
                                        else None),
            "Clip skip": clip_skip if clip_skip > 1 else None,
            "ENSD": ensd if ensd != 0 and self._uses_ensd(p, sampler) else None,
            "RNG": randn_source if randn_source != "GPU" else None,
            "Tiling": "True" if p.tiling else None,
            **p.extra_generation_params,
            "Version": VERSION if opts.get("add_version_to_infotext") else None,
            "User": p.user if p.user and opts.get("add_user_name_to_info") else None,
        }
        return infotext.create_infotext(p.all_prompts[index], p.all_negative_prompts[index], params)

    def _uses_ensd(self, p: GenerationRequest, sampler: samplers.SamplerSpec) -> bool:
        """A1111 `is_sampler_using_eta_noise_seed_delta`: ENSD is shown for samplers that draw noise with eta != 0."""
        eta = p.eta
        if eta is None and sampler.eta_option is not None:
            eta = float(self.options.get(sampler.eta_option))
        if eta is None:
            eta = 1.0
        return eta != 0 and sampler.uses_ensd

    def info_dict(self, p: GenerationRequest, model: ModelView, sampler, infotexts: list[str]) -> dict:
        """The `info` object of a txt2img/img2img response, keys in A1111 order (§4)."""
        return {
            "prompt": p.all_prompts[0] if p.all_prompts else p.prompt,
            "all_prompts": p.all_prompts,
            "negative_prompt": p.all_negative_prompts[0] if p.all_negative_prompts else p.negative_prompt,
            "all_negative_prompts": p.all_negative_prompts,
            "seed": p.all_seeds[0] if p.all_seeds else p.seed,
            "all_seeds": p.all_seeds,
            "subseed": p.all_subseeds[0] if p.all_subseeds else p.subseed,
            "all_subseeds": p.all_subseeds,
            "subseed_strength": p.subseed_strength,
            "width": p.width,
            "height": p.height,
            "sampler_name": sampler.name,
            "cfg_scale": p.cfg_scale,
            "steps": p.steps,
            "batch_size": p.batch_size,
            "restore_faces": p.restore_faces,
            "face_restoration_model": (self.face_restorers.choose() if p.restore_faces and self.face_restorers
                                       is not None else None),
            "sd_model_name": model.model_name,
            "sd_model_hash": model.shorthash,
            "sd_vae_name": model.vae_name,
            "sd_vae_hash": model.vae_hash,
            "seed_resize_from_w": p.seed_resize_from_w,
            "seed_resize_from_h": p.seed_resize_from_h,
            "denoising_strength": p.denoising_strength,
            "extra_generation_params": {k: (None if callable(v) else v) for k, v in p.extra_generation_params.items()},
            "index_of_first_image": 0,
            "infotexts": infotexts,
            "styles": p.styles,
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "clip_skip": int(self.options.get("CLIP_stop_at_last_layers")),
            "is_using_inpainting_conditioning": p.is_using_inpainting_conditioning,
            "version": VERSION,
            # A1111 shows p.comments ("Lora not found: x") only in the UI; Easel adds them when there are any
            **({"comments": "".join(f"{c}\n" for c in p.comments)} if p.comments else {}),
        }
