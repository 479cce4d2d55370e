"""The txt2img tab: prompt row, sampling settings and the gallery; jobs go through the task queue."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.api.models import Txt2ImgBody
from modules.ui.common import (
    SamplingControls,
    build_sampling,
    interrupt_task,
    run_generation,
    sampling_fields,
    skip_task,
    wire_seed_buttons,
)
from modules.ui.outputs import OutputPanel, build_output_panel
from modules.ui.scripts_section import build_scripts_section
from modules.ui.toprow import TopRow, build_toprow, wire_paste


@dataclass
class Txt2ImgTab:
    toprow: TopRow
    sampling: SamplingControls
    output: OutputPanel


def wire_job_buttons(services, tab: str, row: TopRow, inputs: list, output: OutputPanel, run) -> None:
    """Generate (the browser makes the task id and polls /internal/progress), Interrupt, Skip."""
    outputs = [output.gallery, output.generation_info, output.info, output.html_log]
    event = row.generate.click(run, inputs=[row.id_task, *inputs], outputs=outputs, concurrency_limit=None,
                               js=f"(...args) => window.easelSubmit('{tab}', args)", show_progress="minimal",
                               api_visibility="private")
    event.then(None, None, None, js=f"() => window.easelDone('{tab}')")  # also after an error
    row.interrupt.click(lambda task: interrupt_task(services, task), [row.id_task], None, concurrency_limit=None,
                        js=f"(task) => window.easelCurrentTask('{tab}', task)", api_visibility="private")
    row.skip.click(lambda task: skip_task(services, task), [row.id_task], None, concurrency_limit=None,
                   js=f"(task) => window.easelCurrentTask('{tab}', task)", api_visibility="private")


def build_txt2img(services) -> Txt2ImgTab:
    row = build_toprow(services, "txt2img")
    with gr.Row(elem_id="txt2img_main"):
        with gr.Column(scale=1, elem_id="txt2img_settings"):
            sampling = build_sampling("txt2img")
            scripts = build_scripts_section(services, "txt2img")
        with gr.Column(scale=1):
            output = build_output_panel("txt2img")

    async def run(id_task, request: gr.Request, *values):
        prompt, negative, styles, sampler, scheduler, steps, width, height, n_iter, batch_size, cfg_scale, seed = \
            values[:12]
        body = Txt2ImgBody(prompt=prompt or "", negative_prompt=negative or "", styles=list(styles or []),
                           **sampling_fields(sampler, scheduler, steps, width, height, n_iter, batch_size, cfg_scale,
                                             seed), **scripts.request_fields(list(values[12:])))
        return await run_generation(services, body, id_task, getattr(request, "username", None))

    inputs = [row.prompt, row.negative_prompt, row.styles, *sampling.as_list(), *scripts.inputs]
    wire_job_buttons(services, "txt2img", row, inputs, output, run)
    wire_seed_buttons(sampling, output.generation_info)
    wire_paste(row, [sampling.sampler, sampling.scheduler, sampling.steps, sampling.width, sampling.height,
                     sampling.cfg_scale, sampling.seed])
    return Txt2ImgTab(row, sampling, output)
