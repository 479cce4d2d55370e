import pytest

from modules.engine import samplers
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
        samplers.resolve("DPM fast", None)
    assert "not available with diffusers" in err.value.message
    with pytest.raises(InvalidRequestError) as err:
        samplers.resolve("Euler", "Bogus")
    assert err.value.field == "scheduler" and "Karras" in err.value.message


@pytest.mark.parametrize("spec", samplers.SAMPLERS, ids=lambda s: s.name)
def test_every_sampler_builds_with_every_schedule(spec):
    for schedule in samplers.SCHEDULES:
        scheduler = samplers.build_scheduler(spec, schedule, SD15_SCHEDULER)
        scheduler.set_timesteps(5)
        assert len(scheduler.timesteps) >= 5


def test_karras_schedule_reaches_the_scheduler():
    sampler, schedule = samplers.resolve("Euler", "Karras")
    assert samplers.build_scheduler(sampler, schedule, SD15_SCHEDULER).config.use_karras_sigmas is True
    sampler, schedule = samplers.resolve("Euler", None)
    assert samplers.build_scheduler(sampler, schedule, SD15_SCHEDULER).config.use_karras_sigmas is False


def test_v_prediction_is_passed_through():
    sampler, schedule = samplers.resolve("DDIM", None)
    scheduler = samplers.build_scheduler(sampler, schedule, SD15_SCHEDULER, prediction_type="v_prediction")
    assert scheduler.config.prediction_type == "v_prediction"
