"""The img2img tab: upload an image, optionally paint a mask over it (inpainting), and generate from it."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import gradio as gr
from PIL import Image, ImageChops

from modules.api.models import Img2ImgBody
from modules.ui.common import SamplingControls, build_sampling, run_generation, sampling_fields, wire_seed_buttons
from modules.ui.outputs import OutputPanel, build_output_panel
from modules.ui.scripts_section import build_scripts_section
from modules.ui.toprow import TopRow, build_toprow, wire_paste
from modules.ui.txt2img import wire_job_buttons

RESIZE_MODES = ["Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)"]
MASK_MODES = ["Inpaint masked", "Inpaint not masked"]
MASKED_CONTENT = ["fill", "original", "latent noise", "latent nothing"]
INPAINT_AREAS = ["Whole picture", "Only masked"]


@dataclass
class Img2ImgTab:
    toprow: TopRow
    image: gr.ImageEditor
    sampling: SamplingControls
    output: OutputPanel


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def split_editor_value(value) -> tuple[Image.Image | None, Image.Image | None]:
    """(init image, mask) from the editor: the background, and white wherever any layer was painted."""
    if not value:
        return None, None
    background = value.get("background") if isinstance(value, dict) else None
    if background is None:
        return None, None
    init = background.convert("RGB")
    mask = None
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        alpha = layer.convert("RGBA").getchannel("A").point(lambda a: 255 if a > 0 else 0)
        if alpha.size != init.size:
            alpha = alpha.resize(init.size, Image.Resampling.NEAREST)
        if alpha.getbbox() is None:
            continue
        mask = alpha if mask is None else ImageChops.lighter(mask, alpha)
    return init, mask


def build_img2img(services) -> Img2ImgTab:
    row = build_toprow(services, "img2img")
    with gr.Row(elem_id="img2img_main"):
        with gr.Column(scale=1, elem_id="img2img_settings"):
            image = gr.ImageEditor(label="Image (paint over it to inpaint)", type="pil", image_mode="RGBA",
                                   sources=["upload", "clipboard"], elem_id="img2img_image", height=420,
                                   brush=gr.Brush(default_size=24, colors=["#ffffff", "#000000"],
                                                  default_color="#ffffff", color_mode="defaults"),
                                   layers=False, transforms=(), format="png")
            resize_mode = gr.Radio(RESIZE_MODES, value=RESIZE_MODES[0], type="index", label="Resize mode",
                                   elem_id="img2img_resize_mode")
            with gr.Accordion("Inpainting", open=False, elem_id="img2img_inpaint_settings"):
                mask_blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id="img2img_mask_blur")
                mask_mode = gr.Radio(MASK_MODES, value=MASK_MODES[0], type="index", label="Mask mode",
                                     elem_id="img2img_mask_mode")
                fill = gr.Radio(MASKED_CONTENT, value="original", type="index", label="Masked content",
                                elem_id="img2img_inpainting_fill")
                area = gr.Radio(INPAINT_AREAS, value=INPAINT_AREAS[0], type="index", label="Inpaint area",
                                elem_id="img2img_inpaint_full_res")
                padding = gr.Slider(0, 256, value=32, step=4, label="Only masked padding, pixels",
                                    elem_id="img2img_inpaint_full_res_padding")
            denoising = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                  elem_id="img2img_denoising_strength")
            sampling = build_sampling("img2img")
            scripts = build_scripts_section(services, "img2img")
        with gr.Column(scale=1):
            output = build_output_panel("img2img")

    async def run(id_task, request: gr.Request, *values):
        (prompt, negative, styles, editor, resize, blur, invert, fill_mode, full_res, pad, strength, sampler, scheduler,
         steps, width, height, n_iter, batch_size, cfg_scale, seed) = values[:20]
        init, mask = split_editor_value(editor)
        if init is None:
            raise gr.Error("img2img: upload an image first")
        body = Img2ImgBody(prompt=prompt or "", negative_prompt=negative or "", styles=list(styles or []),
                           init_images=[_b64(init)], mask=_b64(mask) if mask is not None else None,
                           resize_mode=int(resize or 0), mask_blur=int(blur), inpainting_mask_invert=int(invert or 0),
                           inpainting_fill=int(fill_mode or 0), inpaint_full_res=bool(full_res),
                           inpaint_full_res_padding=int(pad), denoising_strength=float(strength),
                           **sampling_fields(sampler, scheduler, steps, width, height, n_iter, batch_size,
                                             cfg_scale, seed), **scripts.request_fields(list(values[20:])))
        return await run_generation(services, body, id_task, getattr(request, "username", None))

    inputs = [row.prompt, row.negative_prompt, row.styles, image, resize_mode, mask_blur, mask_mode, fill, area,
              padding, denoising, *sampling.as_list(), *scripts.inputs]
    wire_job_buttons(services, "img2img", row, inputs, output, run)
    wire_seed_buttons(sampling, output.generation_info)
    wire_paste(row, [sampling.sampler, sampling.scheduler, sampling.steps, sampling.width, sampling.height,
                     sampling.cfg_scale, sampling.seed])
    return Img2ImgTab(row, image, sampling, output)
