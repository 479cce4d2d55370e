"""The txt2img tab (A1111 1.10 layout): prompt row; "Generation" with sampler, Hires. fix, Refiner, size, batch,
CFG, seed (and variation seed) and the scripts, beside the Extra Networks pages; the gallery. Generate builds an
A1111 txt2img body and submits it through the request pipeline."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.api.models import Txt2ImgBody
from modules.ui.common import run_generation
from modules.ui.extra_networks import ExtraNetworksUI, build_extra_networks, wire_extra_network_actions
from modules.ui.form import Form
from modules.ui.hires_panel import HiresControls, build_hires, wire_hires_target
from modules.ui.job_buttons import wire_job_buttons
from modules.ui.outputs import OutputPanel, build_output_panel
from modules.ui.paste import PasteFields, wire_paste_button
from modules.ui.refiner_panel import RefinerControls, build_refiner
from modules.ui.sampling import SamplingControls, build_sampler_row, build_size_row
from modules.ui.scripts_ui import ScriptsControls, build_scripts
from modules.ui.seed import SeedControls, build_seed, wire_seed_buttons
from modules.ui.style_editor import build_style_editor
from modules.ui.toprow import TopRow, build_toprow


@dataclass
class Txt2ImgTab:
    toprow: TopRow
    sampling: SamplingControls
    seed: SeedControls
    hires: HiresControls
    refiner: RefinerControls
    scripts: ScriptsControls
    output: OutputPanel
    extra_networks: ExtraNetworksUI
    paste: PasteFields
    tabs: gr.Tabs


def prompt_fields(row: TopRow, fields: PasteFields) -> None:
    fields.add(row.prompt, "Prompt")
    fields.add(row.negative_prompt, "Negative prompt")
    fields.add(row.styles, lambda d: d.get("Styles array"))


def build_txt2img(services) -> Txt2ImgTab:
    tab = "txt2img"
    row = build_toprow(services, tab)
    build_style_editor(services, tab, row)
    with gr.Row(elem_id=f"{tab}_main", elem_classes=["easel-main"]):
        with gr.Column(scale=1, elem_id=f"{tab}_settings", min_width=360):
            with gr.Tabs(elem_id=f"{tab}_extra_tabs", elem_classes=["easel-extra-tabs"]) as tabs:
                with gr.Tab("Generation", id=f"{tab}_generation", elem_id=f"{tab}_generation_tab"):
                    sampler, scheduler, steps = build_sampler_row(tab)
                    hires = build_hires(services, tab)
                    refiner = build_refiner(services, tab)
                    width, height, swap, batch_count, batch_size = build_size_row(tab)
                    cfg = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")
                    seed = build_seed(tab)
                    scripts = build_scripts(services, tab)
                extra_networks = build_extra_networks(services, tab)
        with gr.Column(scale=1, elem_id=f"{tab}_results_column", min_width=360):
            output = build_output_panel(tab)
    sampling = SamplingControls(sampler, scheduler, steps, width, height, swap, batch_count, batch_size, cfg)
    wire_hires_target(hires, width, height)
    wire_extra_network_actions(services, tab, extra_networks, output)

    form = Form()
    form.add("prompt", row.prompt)
    form.add("negative_prompt", row.negative_prompt)
    form.add("styles", row.styles)
    for group in (sampling, seed, hires, refiner):
        for name, component in group.named().items():
            form.add(name, component)
    form.add_list("scripts", scripts.inputs)

    async def run(id_task: str, v: dict, user: str | None):
        body = Txt2ImgBody(prompt=v["prompt"] or "", negative_prompt=v["negative_prompt"] or "",
                           styles=list(v["styles"] or []), **sampling.body(v), **seed.body(v), **hires.body(v),
                           **refiner.body(v), **scripts.body(v["scripts"]))
        return await run_generation(services, body, id_task, user)

    wire_job_buttons(services, tab, row, form, output, run)
    wire_seed_buttons(seed, output.generation_info, output.selected)
    fields = PasteFields()
    prompt_fields(row, fields)
    for group in (sampling, seed, hires, refiner):
        group.paste(fields)
    wire_paste_button(services, row.paste, row.prompt, fields)
    return Txt2ImgTab(row, sampling, seed, hires, refiner, scripts, output, extra_networks, fields, tabs)
