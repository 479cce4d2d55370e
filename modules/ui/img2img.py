"""The img2img tab (A1111 1.10 layout): prompt row; "Generation" with the input sub-tabs (img2img, Sketch, Inpaint,
Inpaint sketch, Inpaint upload, Batch), resize mode, the mask options, sampler, Refiner, "Resize to" / "Resize by",
batch, CFG, denoising, seed and the scripts, beside the Extra Networks pages; the gallery. Generate builds A1111
img2img bodies (one per image of a batch folder) and submits them through the request pipeline."""
from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from modules.api.models import Img2ImgBody
from modules.tasks.common import TaskStatus
from modules.ui import folder_batch
from modules.ui.common import run_generation, shown_info, submit_and_wait
from modules.ui.extra_networks import ExtraNetworksUI, build_extra_networks, wire_extra_network_actions
from modules.ui.form import Form
from modules.ui.img2img_inputs import INPAINT_MODES, Img2ImgInputs, build_inputs, init_and_mask
from modules.ui.job_buttons import wire_job_buttons
from modules.ui.outputs import OutputPanel, build_output_panel, gallery_files
from modules.ui.paste import PasteFields, wire_paste_button
from modules.ui.refiner_panel import RefinerControls, build_refiner
from modules.ui.sampling import SamplingControls, build_sampler_row
from modules.ui.scripts_ui import ScriptsControls, build_scripts
from modules.ui.seed import SeedControls, build_seed, wire_seed_buttons
from modules.ui.style_editor import build_style_editor
from modules.ui.toprow import TopRow, build_toprow
from modules.ui.txt2img import prompt_fields

RESIZE_MODES = ["Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)"]
MASK_MODES = ["Inpaint masked", "Inpaint not masked"]
MASKED_CONTENT = ["fill", "original", "latent noise", "latent nothing"]
INPAINT_AREAS = ["Whole picture", "Only masked"]


@dataclass
class MaskControls:
    group: gr.Group
    blur: gr.Slider
    mode: gr.Radio
    fill: gr.Radio
    area: gr.Radio
    padding: gr.Slider

    def named(self) -> dict:
        return {"mask_blur": self.blur, "mask_mode": self.mode, "inpainting_fill": self.fill,
                "inpaint_area": self.area, "inpaint_padding": self.padding}

    @staticmethod
    def body(v: dict) -> dict:
        return {"mask_blur": int(v["mask_blur"]), "inpainting_mask_invert": int(v["mask_mode"] or 0),
                "inpainting_fill": int(v["inpainting_fill"] or 0), "inpaint_full_res": bool(v["inpaint_area"]),
                "inpaint_full_res_padding": int(v["inpaint_padding"])}

    def paste(self, fields: PasteFields) -> None:
        fields.add(self.blur, "Mask blur", "int")
        fields.add(self.mode, lambda d: MASK_MODES.index(d["Mask mode"]) if d.get("Mask mode") in MASK_MODES
                   else None, "int")
        fields.add(self.fill, lambda d: MASKED_CONTENT.index(d["Masked content"])
                   if d.get("Masked content") in MASKED_CONTENT else None, "int")
        fields.add(self.area, lambda d: INPAINT_AREAS.index(d["Inpaint area"]) if d.get("Inpaint area")
                   in INPAINT_AREAS else None, "int")
        fields.add(self.padding, "Masked area padding", "int")


@dataclass
class Img2ImgTab:
    toprow: TopRow
    inputs: Img2ImgInputs
    sampling: SamplingControls
    seed: SeedControls
    refiner: RefinerControls
    scripts: ScriptsControls
    output: OutputPanel
    extra_networks: ExtraNetworksUI
    paste: PasteFields
    tabs: gr.Tabs

    @property
    def image(self):  # where "Send to img2img" puts a picture
        return self.inputs.init_img


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def build_mask_controls(tab: str) -> MaskControls:
    with gr.Group(visible=False, elem_id=f"{tab}_inpaint_controls") as group:
        with gr.Row():
            blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id=f"{tab}_mask_blur", min_width=160)
            mode = gr.Radio(MASK_MODES, value=MASK_MODES[0], type="index", label="Mask mode",
                            elem_id=f"{tab}_mask_mode", min_width=200)
        fill = gr.Radio(MASKED_CONTENT, value="original", type="index", label="Masked content",
                        elem_id=f"{tab}_inpainting_fill")
        with gr.Row():
            area = gr.Radio(INPAINT_AREAS, value=INPAINT_AREAS[0], type="index", label="Inpaint area",
                            elem_id=f"{tab}_inpaint_full_res", min_width=200)
            padding = gr.Slider(0, 256, value=32, step=4, label="Only masked padding, pixels",
                                elem_id=f"{tab}_inpaint_full_res_padding", min_width=160)
    return MaskControls(group, blur, mode, fill, area, padding)


def scaled_size(image: Image.Image | None, scale: float) -> tuple[int, int] | None:
    """A1111 "Resize by": the init image's size times `scale`, in whole multiples of 8."""
    if image is None:
        return None
    return max(8, int(image.width * float(scale)) // 8 * 8), max(8, int(image.height * float(scale)) // 8 * 8)


def build_img2img(services) -> Img2ImgTab:
    tab = "img2img"
    row = build_toprow(services, tab)
    build_style_editor(services, tab, row)
    with gr.Row(elem_id=f"{tab}_main", elem_classes=["easel-main"]):
        with gr.Column(scale=1, elem_id=f"{tab}_settings", min_width=360):
            with gr.Tabs(elem_id=f"{tab}_extra_tabs", elem_classes=["easel-extra-tabs"]) as tabs:
                with gr.Tab("Generation", id=f"{tab}_generation", elem_id=f"{tab}_generation_tab"):
                    inputs = build_inputs()
                    resize_mode = gr.Radio(RESIZE_MODES, value=RESIZE_MODES[0], type="index", label="Resize mode",
                                           elem_id="resize_mode")
                    mask = build_mask_controls(tab)
                    sampler, scheduler, steps = build_sampler_row(tab)
                    refiner = build_refiner(services, tab)
                    scale_tab = gr.State(0)
                    with gr.Tabs(elem_id=f"{tab}_column_size"):
                        with gr.Tab("Resize to", id="img2img_tab_resize_to", elem_id="img2img_tab_resize_to") as to:
                            with gr.Row():
                                width = gr.Slider(64, 2048, value=512, step=8, label="Width", elem_id=f"{tab}_width",
                                                  min_width=160)
                                height = gr.Slider(64, 2048, value=512, step=8, label="Height",
                                                   elem_id=f"{tab}_height", min_width=160)
                        with gr.Tab("Resize by", id="img2img_tab_resize_by", elem_id="img2img_tab_resize_by") as by:
                            scale_by = gr.Slider(0.05, 4, value=1, step=0.05, label="Scale", elem_id=f"{tab}_scale")
                            scale_text = gr.Markdown("", elem_id=f"{tab}_scale_resolution_preview")
                    with gr.Row():
                        batch_count = gr.Slider(1, 16, value=1, step=1, label="Batch count",
                                                elem_id=f"{tab}_batch_count", min_width=160)
                        batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id=f"{tab}_batch_size",
                                               min_width=160)
                    cfg = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")
                    denoising = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                          elem_id=f"{tab}_denoising_strength")
                    seed = build_seed(tab)
                    scripts = build_scripts(services, tab)
                extra_networks = build_extra_networks(services, tab)
        with gr.Column(scale=1, elem_id=f"{tab}_results_column", min_width=360):
            output = build_output_panel(tab)
    sampling = SamplingControls(sampler, scheduler, steps, width, height, gr.Button(visible=False, render=False),
                                batch_count, batch_size, cfg)
    wire_extra_network_actions(services, tab, extra_networks, output)
    to.select(lambda: 0, None, [scale_tab], api_visibility="private", queue=False)
    by.select(lambda: 1, None, [scale_tab], api_visibility="private", queue=False)
    inputs.mode.change(lambda m: gr.Group(visible=m in INPAINT_MODES), [inputs.mode], [mask.group],
                       api_visibility="private", queue=False)

    def describe_scale(v_image, scale):
        size = scaled_size(v_image, scale)
        if size is None:
            return "Upload an image first."
        return f"Resize: from {v_image.width}x{v_image.height} to **{size[0]}x{size[1]}**"

    for component in (scale_by, inputs.init_img):
        component.change(describe_scale, [inputs.init_img, scale_by], [scale_text], api_visibility="private",
                         queue=False, show_progress="hidden")

    form = Form()
    form.add("prompt", row.prompt)
    form.add("negative_prompt", row.negative_prompt)
    form.add("styles", row.styles)
    for name, component in {**inputs.named(), **mask.named(), **sampling.named(), **seed.named(),
                            **refiner.named()}.items():
        form.add(name, component)
    form.add("resize_mode", resize_mode)
    form.add("scale_tab", scale_tab)
    form.add("scale_by", scale_by)
    form.add("denoising", denoising)
    form.add_list("scripts", scripts.inputs)

    def body_for(v: dict, init: Image.Image, mask_image: Image.Image | None) -> Img2ImgBody:
        fields = sampling.body(v)
        if v["scale_tab"] == 1:
            fields["width"], fields["height"] = scaled_size(init, v["scale_by"]) or init.size
        return Img2ImgBody(prompt=v["prompt"] or "", negative_prompt=v["negative_prompt"] or "",
                           styles=list(v["styles"] or []), init_images=[b64(init)],
                           mask=b64(mask_image) if mask_image is not None else None,
                           resize_mode=int(v["resize_mode"] or 0), denoising_strength=float(v["denoising"]),
                           **fields, **(mask.body(v) if mask_image is not None else {}), **seed.body(v),
                           **refiner.body(v), **scripts.body(v["scripts"]))

    async def run(id_task: str, v: dict, user: str | None):
        if v["mode"] == "batch":
            return await run_batch(id_task, v, user)
        init, mask_image = init_and_mask(v)
        if init is None:
            raise gr.Error("img2img: upload an image first")
        return await run_generation(services, body_for(v, init, mask_image), id_task, user)

    async def run_batch(id_task: str, v: dict, user: str | None):
        files = folder_batch.input_images(services, v["batch_input_dir"], "Input directory")
        out_dir = folder_batch.output_folder(services, v["batch_output_dir"], "Output directory")
        keys, infotexts, seeds = [], [], []
        done = 0
        for n, path in enumerate(files):
            mask_image = folder_batch.mask_for(services, v["batch_mask_dir"], path)
            body = body_for(v, folder_batch.open_image(path).convert("RGB"), mask_image)
            record = await submit_and_wait(services, body, id_task if n == 0 else batch_task_id(id_task, n), user)
            shown = shown_info(record)
            first = shown["index_of_first_image"]
            keys += record.images[first:]
            infotexts += shown["infotexts"][first:]
            seeds += shown["all_seeds"]
            folder_batch.copy_results(services, record.images, out_dir, path.stem, first)
            done += 1
            if record.status == TaskStatus.CANCELLED:
                break
        shown = {"infotexts": infotexts, "all_seeds": seeds, "all_subseeds": [], "index_of_first_image": 0}
        where = f" to {out_dir.relative_to(services.paths.data_dir).as_posix()}" if out_dir is not None else ""
        log = f"<p class='easel-time'>Batch: {done} of {len(files)} image(s) processed{where}.</p>"
        items = [(p, None) for p in gallery_files(services, keys)]
        return gr.Gallery(value=items, selected_index=None), json.dumps(shown), (infotexts or [""])[0], log, 0

    wire_job_buttons(services, tab, row, form, output, run)
    wire_seed_buttons(seed, output.generation_info, output.selected)
    fields = PasteFields()
    prompt_fields(row, fields)
    for group in (sampling, seed, refiner, mask):
        group.paste(fields)
    fields.add(denoising, "Denoising strength", "float")
    wire_paste_button(services, row.paste, row.prompt, fields)
    return Img2ImgTab(row, inputs, sampling, seed, refiner, scripts, output, extra_networks, fields, tabs)


def batch_task_id(first: str | None, n: int) -> str | None:
    """The task ids of a batch follow the browser's id (`task(img2img-X)` -> `task(img2img-X-b1)`), so the progress
    bar can follow every image of it."""
    if not first or not first.endswith(")"):
        return None
    return f"{first[:-1]}-b{n})"
