"""Tiny SD1 and SDXL pipelines and an Easel Generator on the CPU in fp32, shared by the engine tests."""
from __future__ import annotations

import pytest
import torch


def make_denoising(unet: torch.nn.Module) -> None:
    """Make the random UNet behave like a denoiser: its eps output gets the (scaled) input added.

    A random-weight UNet predicts nearly the same eps whatever its input, so every sampler and schedule would end at
    almost the same picture (the first noise times sigma_max) and a wrong schedule could pass the comparisons. With
    eps ~ x_in + unet(x_in) the samplers really denoise and the result depends on the whole trajectory.
    """
    def hook(_module, args, kwargs, output):
        sample = args[0] if args else kwargs["sample"]
        output.sample = output.sample + sample[:, :output.sample.shape[1]]  # 9-channel UNets: the latents part
        return output

    unet.register_forward_hook(hook, with_kwargs=True)


class Engine:
    def __init__(self, family: str, root, *, inpainting: bool = False):
        from modules.engine.devices import Precision
        from modules.engine.generator import Generator, ModelView
        from modules.model_registry.loader import build_pipeline_from_state
        from modules.model_registry.safe_load import load_checkpoint
        from modules.model_registry.tiny import write_tiny_checkpoint
        from modules.options import Options
        from modules.shared_options import default_options

        path = write_tiny_checkpoint(root / f"tiny-{family}.safetensors", family=family, inpainting=inpainting)
        pipe, family, prediction = build_pipeline_from_state(load_checkpoint(path), dtype=torch.float32,
                                                             cache_dir=root / "cache")
        make_denoising(pipe.unet)
        self.pipe, self.family, self.prediction = pipe, family, prediction
        self.options = Options(default_options())
        self.generator = Generator(self.options, Precision(torch.device("cpu"), torch.float32, torch.float32,
                                                           torch.float32))
        self.model = ModelView(pipe=pipe, family=family, prediction_type=prediction, model_name=f"tiny-{family}",
                               shorthash=None, checkpoint_title=f"tiny-{family}")

    def run(self, **fields):
        import numpy as np

        from modules.processing import GenerationRequest
        from modules.step_control import StepControl

        control = fields.pop("control", None) or StepControl()
        fields = {"prompt": "a cat", "negative_prompt": "ugly", "seed": 7, "steps": 3, "width": 16, "height": 16,
                  "cfg_scale": 5.0, **fields}
        result = self.generator.run(GenerationRequest(**fields), self.model, control)
        return [np.asarray(image) for image in result.images], result


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny UNet is dominated by per-op overhead; one thread is several times faster on a shared 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def report_measured():
    yield
    from tests.engine.kdiffusion_reference import MEASURED

    if MEASURED:
        print("\nmax |easel - reference| in uint8 levels:")
        for (family, sampler, schedule), diff in sorted(MEASURED.items()):
            print(f"  {family:5s} {sampler:18s} {schedule:17s} {diff}")


@pytest.fixture(scope="session")
def sd1(tmp_path_factory):
    return Engine("sd1", tmp_path_factory.mktemp("engine-sd1"))


@pytest.fixture(scope="session")
def sd2(tmp_path_factory):
    """v-prediction (the tiny SD2 checkpoint)."""
    return Engine("sd2", tmp_path_factory.mktemp("engine-sd2"))


@pytest.fixture(scope="session")
def sdxl(tmp_path_factory):
    return Engine("sdxl", tmp_path_factory.mktemp("engine-sdxl"))
