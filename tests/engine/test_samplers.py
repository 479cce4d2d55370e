from types import SimpleNamespace

import pytest
import torch

from modules.engine import samplers, sampling
from modules.engine.kdiffusion.denoiser import CompVisDenoiser, alphas_cumprod_from_config
from modules.errors import InvalidRequestError

SD15_SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                  "num_train_timesteps": 1000, "steps_offset": 1, "clip_sample": False, "set_alpha_to_one": False,
                  "prediction_type": "epsilon", "skip_prk_steps": True}


@pytest.mark.parametrize("name, scheduler, sampler_name, schedule_label", [
    ("DPM++ 2M Karras", None, "DPM++ 2M", "Automatic"),  # Karras is DPM++ 2M's default: A1111 turns it into Automatic
    ("DPM++ 2M", "Exponential", "DPM++ 2M", "Exponential"),
    ("Euler a", None, "Euler a", "Automatic"),
    ("k_euler_a", None, "Euler a", "Automatic"),
    ("euler", "karras", "Euler", "Karras"),
    ("Euler SGM Uniform", None, "Euler", "SGM Uniform"),
    (None, None, "Euler", "Automatic"),
])
def test_resolve(name, scheduler, sampler_name, schedule_label):
    sampler, schedule = samplers.resolve(name, scheduler)
    assert (sampler.name, schedule.label) == (sampler_name, schedule_label)


def test_infotext_label_is_the_effective_schedule():
    sampler, schedule = samplers.resolve("DPM++ 2M", None)
    assert samplers.infotext_schedule_label(sampler, schedule) == "Karras"
    sampler, schedule = samplers.resolve("DDIM", "Karras")
    assert samplers.infotext_schedule_label(sampler, schedule) == "Karras"


def test_unknown_names_are_errors_naming_the_field():
    with pytest.raises(InvalidRequestError) as err:
        samplers.resolve("Bogus", None)
    assert err.value.field == "sampler_name" and "Euler a" in err.value.message
    with pytest.raises(InvalidRequestError) as err:
        samplers.resolve("Euler", "Bogus")
    assert err.value.field == "scheduler" and "Karras" in err.value.message


def test_every_a1111_sampler_and_schedule_is_served():
    assert samplers.sampler_names() == [
        "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE", "Euler a", "Euler",
        "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart", "DDIM", "DDIM CFG++", "PLMS", "UniPC",
        "LCM"]
    assert [s.label for s in samplers.SCHEDULES] == [
        "Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform", "KL Optimal",
        "Align Your Steps", "Simple", "Normal", "DDIM", "Beta"]


class _Options(dict):
    def get(self, key, default=None):
        defaults = {"always_discard_next_to_last_sigma": False, "use_old_karras_scheduler_sigmas": False,
                    "sigma_min": 0.0, "sigma_max": 0.0, "rho": 0.0, "beta_dist_alpha": 0.6, "beta_dist_beta": 0.6}
        return super().get(key, defaults.get(key, default))


def _sigmas(sampler: str, schedule: str | None, steps: int, **options):
    spec, sched = samplers.resolve(sampler, schedule)
    denoiser = CompVisDenoiser(None, alphas_cumprod_from_config(SD15_SCHEDULER))
    inputs = SimpleNamespace(sampler=spec, schedule=sched, options=_Options(options), params={}, family="sd1")
    return sampling.schedule_sigmas(inputs, denoiser, steps), inputs.params


def test_automatic_is_the_denoisers_own_schedule():
    # A1111: CompVisDenoiser.get_sigmas(n), t = linspace(999, 0, n); not diffusers' "leading" t = 801..1
    sigmas, _ = _sigmas("Euler", None, 5)
    assert len(sigmas) == 6 and sigmas[-1] == 0
    assert sigmas[0].item() == pytest.approx(14.6146, abs=1e-3)
    assert sigmas[-2].item() == pytest.approx(0.0292, abs=1e-3)


def test_karras_spans_the_models_sigma_range():
    sigmas, _ = _sigmas("Euler", "Karras", 10)
    assert sigmas[0].item() == pytest.approx(14.6146, abs=1e-3) and sigmas[-2].item() == pytest.approx(0.0292, abs=1e-4)
    default, _ = _sigmas("DPM++ 2M", None, 10)  # DPM++ 2M's Automatic is Karras
    assert torch.equal(default, sigmas)


def test_discard_next_to_last_sigma():
    sigmas, params = _sigmas("DPM2", None, 4)  # DPM2 discards: 5 Karras sigmas, the next-to-last dropped
    assert len(sigmas) == 5 and "Discard penultimate sigma" not in params
    forced, params = _sigmas("Euler", None, 4, always_discard_next_to_last_sigma=True)
    assert len(forced) == 5 and params["Discard penultimate sigma"] is True


def test_sigma_and_rho_options_reach_the_schedule_and_the_infotext():
    sigmas, params = _sigmas("Euler", "Karras", 4, sigma_max=5.0, rho=3.0)
    assert sigmas[0].item() == pytest.approx(5.0) and params == {"Schedule max sigma": 5.0, "Schedule rho": 3.0}


def test_kl_optimal_ends_at_sigma_min_and_align_your_steps_uses_nvidias_table():
    kl, _ = _sigmas("Euler", "KL Optimal", 4)
    assert kl[-1].item() == pytest.approx(0.0292, abs=1e-4)
    ays, _ = _sigmas("Euler", "Align Your Steps", 11)  # the table has 11 sigmas
    assert ays.tolist()[:3] == pytest.approx([14.615, 6.475, 3.861]) and ays[-1] == 0


def test_v_prediction_denoiser_scalings():
    x, sigma = torch.ones(1, 1, 1, 1) * 2.0, torch.tensor([3.0])
    denoiser = CompVisDenoiser(lambda _x, _t, _c: torch.ones_like(_x), alphas_cumprod_from_config(SD15_SCHEDULER),
                               "v_prediction")
    expected = 2.0 / (3.0 ** 2 + 1) + 1.0 * (-3.0 / (3.0 ** 2 + 1) ** 0.5)  # c_skip * x + c_out * v
    assert denoiser(x, sigma, None).item() == pytest.approx(expected)
