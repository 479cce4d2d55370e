"""A1111 sampler and scheduler names mapped onto diffusers schedulers.

A1111 names a sampler ("DPM++ 2M") and a schedule type ("Karras") separately, and also accepts both in one
name ("DPM++ 2M Karras"). Each sampler here is served by one diffusers scheduler class with fixed settings;
each schedule type is a set of keyword arguments applied where the class supports them.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from modules.errors import InvalidRequestError


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    aliases: tuple[str, ...]
    scheduler_class: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    default_schedule: str = "automatic"
    options: dict[str, str] = field(default_factory=dict)
    uses_timesteps: bool = False  # DDIM/PLMS/UniPC-style: A1111 ignores the schedule type for these
    eta_option: str | None = None  # option that gives eta (A1111: eta_ddim / eta_ancestral)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    label: str
    aliases: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    default_rho: float = -1
    need_inner_model: bool = False


_DPM = "DPMSolverMultistepScheduler"
SAMPLERS: tuple[SamplerSpec, ...] = (
    SamplerSpec("DPM++ 2M", ("k_dpmpp_2m",), _DPM, {"algorithm_type": "dpmsolver++", "solver_order": 2},
                "karras", {"scheduler": "karras"}),
    SamplerSpec("DPM++ SDE", ("k_dpmpp_sde",), "DPMSolverSDEScheduler", {}, "karras",
                {"scheduler": "karras", "second_order": "True", "brownian_noise": "True"}),
    SamplerSpec("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), _DPM, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
                "exponential", {"scheduler": "exponential", "brownian_noise": "True"}),
    SamplerSpec("DPM++ 2M SDE Heun", ("k_dpmpp_2m_sde_heun",), _DPM,
                {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun"},
                "exponential", {"scheduler": "exponential", "brownian_noise": "True", "solver_type": "heun"}),
    SamplerSpec("DPM++ 2S a", ("k_dpmpp_2s_a",), "DPMSolverSinglestepScheduler",
                {"algorithm_type": "dpmsolver++", "solver_order": 2}, "karras",
                {"scheduler": "karras", "uses_ensd": "True", "second_order": "True"}),
    SamplerSpec("DPM++ 3M SDE", ("k_dpmpp_3m_sde",), _DPM, {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
                "exponential", {"scheduler": "exponential", "discard_next_to_last_sigma": "True", "brownian_noise": "True"}),
    SamplerSpec("Euler a", ("k_euler_a", "k_euler_ancestral"), "EulerAncestralDiscreteScheduler", {}, "automatic",
                {"uses_ensd": "True"}, eta_option="eta_ancestral"),
    SamplerSpec("Euler", ("k_euler",), "EulerDiscreteScheduler"),
    SamplerSpec("LMS", ("k_lms",), "LMSDiscreteScheduler"),
    SamplerSpec("Heun", ("k_heun",), "HeunDiscreteScheduler", {}, "automatic", {"second_order": "True"}),
    SamplerSpec("DPM2", ("k_dpm_2",), "KDPM2DiscreteScheduler", {}, "karras",
                {"scheduler": "karras", "discard_next_to_last_sigma": "True", "second_order": "True"}),
    SamplerSpec("DPM2 a", ("k_dpm_2_a",), "KDPM2AncestralDiscreteScheduler", {}, "karras",
                {"scheduler": "karras", "discard_next_to_last_sigma": "True", "uses_ensd": "True", "second_order": "True"}),
    SamplerSpec("DDIM", ("ddim",), "DDIMScheduler", {}, uses_timesteps=True, eta_option="eta_ddim"),
    SamplerSpec("PLMS", ("plms",), "PNDMScheduler", {"skip_prk_steps": True}, uses_timesteps=True),
    SamplerSpec("UniPC", ("unipc",), "UniPCMultistepScheduler", {}, uses_timesteps=True),
    SamplerSpec("LCM", ("k_lcm",), "LCMScheduler"),
)

# Samplers A1111 has that no diffusers scheduler serves; named in the error so callers know why.
UNSERVED_SAMPLERS = ("DPM fast", "DPM adaptive", "Restart", "DDIM CFG++")

SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec("automatic", "Automatic"),
    ScheduleSpec("uniform", "Uniform", kwargs={"timestep_spacing": "linspace"}, need_inner_model=True),
    ScheduleSpec("karras", "Karras", kwargs={"use_karras_sigmas": True}, default_rho=7.0),
    ScheduleSpec("exponential", "Exponential", kwargs={"use_exponential_sigmas": True}),
    ScheduleSpec("sgm_uniform", "SGM Uniform", ("SGMUniform",), kwargs={"timestep_spacing": "trailing"},
                 need_inner_model=True),
    ScheduleSpec("simple", "Simple", kwargs={"timestep_spacing": "trailing"}, need_inner_model=True),
    ScheduleSpec("normal", "Normal", kwargs={"timestep_spacing": "linspace"}, need_inner_model=True),
    ScheduleSpec("ddim", "DDIM", kwargs={"timestep_spacing": "leading"}, need_inner_model=True),
    ScheduleSpec("beta", "Beta", kwargs={"use_beta_sigmas": True}),
)

_SAMPLER_BY_KEY = {key.lower(): s for s in SAMPLERS for key in (s.name, *s.aliases)}
_SCHEDULE_BY_KEY = {key.lower(): s for s in SCHEDULES for key in (s.name, s.label, *s.aliases)}


def sampler_names() -> list[str]:
    return [s.name for s in SAMPLERS]


def find_schedule(name: str | None, *, field_name: str = "scheduler") -> ScheduleSpec:
    if name is None or name == "":
        return SCHEDULES[0]
    spec = _SCHEDULE_BY_KEY.get(name.lower())
    if spec is None:
        raise InvalidRequestError(
            f"{field_name}: unknown schedule type {name!r}; valid: {', '.join(s.label for s in SCHEDULES)}",
            field=field_name)
    return spec


def resolve(sampler_name: str | None, scheduler: str | None, *, field_name: str = "sampler_name",
            ) -> tuple[SamplerSpec, ScheduleSpec]:
    """Resolve a request's sampler and schedule type as A1111 does, but refuse unknown names.

    "DPM++ 2M Karras" splits into sampler "DPM++ 2M" + schedule "Karras"; aliases ("k_euler_a") and case
    differences are accepted. A schedule equal to the sampler's default becomes Automatic, like A1111.
    """
    name = (sampler_name or "Euler").strip()
    sampler = _SAMPLER_BY_KEY.get(name.lower())
    if sampler is None:
        for spec in SCHEDULES:
            for suffix in (spec.label, spec.name, *spec.aliases):
                if name.lower().endswith(" " + suffix.lower()):
                    base = _SAMPLER_BY_KEY.get(name[: -len(suffix) - 1].strip().lower())
                    if base is not None:
                        sampler, scheduler = base, scheduler or spec.label
                        break
            if sampler is not None:
                break
    if sampler is None:
        unserved = " (not available with diffusers)" if name in UNSERVED_SAMPLERS else ""
        raise InvalidRequestError(
            f"{field_name}: unknown sampler {name!r}{unserved}; valid: {', '.join(sampler_names())}",
            field=field_name)
    schedule = find_schedule(scheduler)
    if schedule.name == sampler.default_schedule:
        schedule = SCHEDULES[0]
    return sampler, schedule


def effective_schedule(sampler: SamplerSpec, schedule: ScheduleSpec) -> ScheduleSpec:
    """The schedule that actually runs: Automatic means the sampler's own default."""
    if schedule.name == "automatic" and sampler.default_schedule != "automatic":
        return _SCHEDULE_BY_KEY[sampler.default_schedule]
    return schedule


def infotext_schedule_label(sampler: SamplerSpec, schedule: ScheduleSpec) -> str:
    """The "Schedule type" A1111 writes: the resolved label, or Automatic for timestep samplers."""
    if sampler.uses_timesteps:
        return schedule.label
    return effective_schedule(sampler, schedule).label


def build_scheduler(sampler: SamplerSpec, schedule: ScheduleSpec, base_config: dict[str, Any], *,
                    prediction_type: str | None = None) -> Any:
    """Instantiate the diffusers scheduler for a sampler + schedule from a model's scheduler config."""
    import diffusers  # here, not at the top: the name tables above are read by the torch-free request pipeline

    cls = getattr(diffusers, sampler.scheduler_class)
    accepted = inspect.signature(cls.__init__).parameters
    config = {k: v for k, v in base_config.items() if not k.startswith("_") and k in accepted}
    # A1111's k-diffusion samplers use the model's full noise schedule, ending at sigma 0.
    for key in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"):
        config.pop(key, None)
    config.update(sampler.kwargs)
    if not sampler.uses_timesteps:
        for key, value in effective_schedule(sampler, schedule).kwargs.items():
            if key in accepted:
                config[key] = value
    if prediction_type is not None:
        config["prediction_type"] = prediction_type
    if "lower_order_final" in accepted:
        config["lower_order_final"] = True
    return cls.from_config(config)
