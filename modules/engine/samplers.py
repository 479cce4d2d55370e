"""A1111 1.10's sampler and schedule-type table (what /sdapi/v1/samplers and /schedulers list).

A1111 names a sampler ("DPM++ 2M") and a schedule type ("Karras") separately, and also accepts both in one name
("DPM++ 2M Karras"). Each sampler runs Easel's own implementation in modules/engine/kdiffusion: k-diffusion
samplers step through sigmas from a schedule, the "timesteps" samplers (DDIM, DDIM CFG++, PLMS, UniPC) through the
model's discrete timesteps and ignore the schedule type. `options` are A1111's, as strings (its API coerces them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modules.errors import InvalidRequestError


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    aliases: tuple[str, ...]
    function: str  # a function of kdiffusion.k_samplers / timesteps / unipc / dpm_solver
    options: dict[str, str] = field(default_factory=dict)
    uses_timesteps: bool = False  # DDIM/PLMS/UniPC-style: A1111 ignores the schedule type for these
    eta_option: str | None = None  # option that gives eta (A1111: eta_ddim / eta_ancestral)
    extra_params: tuple[str, ...] = ()  # A1111 `sampler_extra_params`: s_churn/s_tmin/s_tmax/s_noise passed on
    kwargs: dict[str, Any] = field(default_factory=dict)  # fixed arguments (solver_type, CFG++ multiplier)
    uses_sigma_range: bool = False  # DPM fast / adaptive: sigma_min, sigma_max and n instead of a schedule

    @property
    def default_schedule(self) -> str:
        return self.options.get("scheduler", "automatic")

    @property
    def second_order(self) -> bool:
        return self.options.get("second_order") == "True"

    @property
    def discard_next_to_last_sigma(self) -> bool:
        return self.options.get("discard_next_to_last_sigma") == "True"

    @property
    def brownian_noise(self) -> bool:
        return self.options.get("brownian_noise") == "True"

    @property
    def uses_ensd(self) -> bool:
        return self.options.get("uses_ensd") == "True"

    def total_steps(self, steps: int) -> int:
        """Model calls A1111 plans the prompt schedule for (second-order samplers call twice per step)."""
        return steps * 2 if self.second_order else steps


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    label: str
    aliases: tuple[str, ...] = ()
    default_rho: float = -1
    need_inner_model: bool = False


_CHURN = ("s_churn", "s_tmin", "s_tmax", "s_noise")
_NOISE = ("s_noise",)
_ETA = "eta_ancestral"
_KARRAS = {"scheduler": "karras"}
_EXPONENTIAL = {"scheduler": "exponential"}
_SDE = {"brownian_noise": "True"}
SAMPLERS: tuple[SamplerSpec, ...] = (
    SamplerSpec("DPM++ 2M", ("k_dpmpp_2m",), "dpmpp_2m", _KARRAS),
    SamplerSpec("DPM++ SDE", ("k_dpmpp_sde",), "dpmpp_sde", {**_KARRAS, "second_order": "True", **_SDE},
                eta_option=_ETA, extra_params=_NOISE),
    SamplerSpec("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), "dpmpp_2m_sde", {**_EXPONENTIAL, **_SDE},
                eta_option=_ETA, extra_params=_NOISE),
    SamplerSpec("DPM++ 2M SDE Heun", ("k_dpmpp_2m_sde_heun",), "dpmpp_2m_sde",
                {**_EXPONENTIAL, **_SDE, "solver_type": "heun"}, eta_option=_ETA, extra_params=_NOISE,
                kwargs={"solver_type": "heun"}),
    SamplerSpec("DPM++ 2S a", ("k_dpmpp_2s_a",), "dpmpp_2s_ancestral",
                {**_KARRAS, "uses_ensd": "True", "second_order": "True"}, eta_option=_ETA, extra_params=_NOISE),
    SamplerSpec("DPM++ 3M SDE", ("k_dpmpp_3m_sde",), "dpmpp_3m_sde",
                {**_EXPONENTIAL, "discard_next_to_last_sigma": "True", **_SDE}, eta_option=_ETA, extra_params=_NOISE),
    SamplerSpec("Euler a", ("k_euler_a", "k_euler_ancestral"), "euler_ancestral", {"uses_ensd": "True"},
                eta_option=_ETA),
    SamplerSpec("Euler", ("k_euler",), "euler", extra_params=_CHURN),
    SamplerSpec("LMS", ("k_lms",), "lms"),
    SamplerSpec("Heun", ("k_heun",), "heun", {"second_order": "True"}, extra_params=_CHURN),
    SamplerSpec("DPM2", ("k_dpm_2",), "dpm_2",
                {**_KARRAS, "discard_next_to_last_sigma": "True", "second_order": "True"}, extra_params=_CHURN),
    SamplerSpec("DPM2 a", ("k_dpm_2_a",), "dpm_2_ancestral",
                {**_KARRAS, "discard_next_to_last_sigma": "True", "uses_ensd": "True", "second_order": "True"},
                eta_option=_ETA, extra_params=_NOISE),
    SamplerSpec("DPM fast", ("k_dpm_fast",), "dpm_fast", {"uses_ensd": "True"}, eta_option=_ETA,
                extra_params=_NOISE, uses_sigma_range=True),
    SamplerSpec("DPM adaptive", ("k_dpm_ad",), "dpm_adaptive", {"uses_ensd": "True"}, eta_option=_ETA,
                uses_sigma_range=True),
    SamplerSpec("Restart", ("restart",), "restart", {**_KARRAS, "second_order": "True"}),
    SamplerSpec("DDIM", ("ddim",), "ddim", uses_timesteps=True, eta_option="eta_ddim"),
    SamplerSpec("DDIM CFG++", ("ddim_cfgpp",), "ddim_cfgpp", uses_timesteps=True, eta_option="eta_ddim"),
    SamplerSpec("PLMS", ("plms",), "plms", uses_timesteps=True),
    SamplerSpec("UniPC", ("unipc",), "unipc", uses_timesteps=True),
    SamplerSpec("LCM", ("k_lcm",), "lcm"),
)

SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec("automatic", "Automatic"),
    ScheduleSpec("uniform", "Uniform", need_inner_model=True),
    ScheduleSpec("karras", "Karras", default_rho=7.0),
    ScheduleSpec("exponential", "Exponential"),
    ScheduleSpec("polyexponential", "Polyexponential", default_rho=1.0),
    ScheduleSpec("sgm_uniform", "SGM Uniform", ("SGMUniform",), need_inner_model=True),
    ScheduleSpec("kl_optimal", "KL Optimal"),
    ScheduleSpec("align_your_steps", "Align Your Steps"),
    ScheduleSpec("simple", "Simple", need_inner_model=True),
    ScheduleSpec("normal", "Normal", need_inner_model=True),
    ScheduleSpec("ddim", "DDIM", need_inner_model=True),
    ScheduleSpec("beta", "Beta", need_inner_model=True),
)

_SAMPLER_BY_KEY = {key.lower(): s for s in SAMPLERS for key in (s.name, *s.aliases)}
_SCHEDULE_BY_KEY = {key.lower(): s for s in SCHEDULES for key in (s.name, s.label, *s.aliases)}


def sampler_names() -> list[str]:
    return [s.name for s in SAMPLERS]


def find_sampler(name: str) -> SamplerSpec | None:
    return _SAMPLER_BY_KEY.get(name.strip().lower())


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
        raise InvalidRequestError(
            f"{field_name}: unknown sampler {name!r}; valid: {', '.join(sampler_names())}",
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
    """The "Schedule type" A1111 writes: the resolved label, or the requested one for timestep samplers."""
    if sampler.uses_timesteps:
        return schedule.label
    return effective_schedule(sampler, schedule).label
