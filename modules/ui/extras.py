"""The Extras tab: upscale one image and restore its faces, as an extras task on the queue (as the API)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import gradio as gr

from modules import upscalers
from modules.errors import EaselError
from modules.generation.pipeline import Submission
from modules.tasks.common import TaskStatus
from modules.ui.outputs import gallery_files


@dataclass
class ExtrasTab:
    image: gr.Image
    result: gr.Image
    info: gr.HTML


def build_extras(services) -> ExtrasTab:
    names = [u.name for u in upscalers.list_upscalers()]
    with gr.Row(elem_id="extras_main"):
        with gr.Column(scale=1):
            image = gr.Image(label="Source", type="pil", sources=["upload", "clipboard"], elem_id="extras_image",
                             height=380, image_mode=None)
            with gr.Tabs(elem_id="extras_resize_mode"):
                with gr.Tab("Scale by", id="scale_by") as scale_by_tab:
                    resize = gr.Slider(1, 8, value=2, step=0.05, label="Resize", elem_id="extras_upscaling_resize")
                with gr.Tab("Scale to", id="scale_to") as scale_to_tab:
                    with gr.Row():
                        width = gr.Number(512, precision=0, label="Width", elem_id="extras_upscaling_resize_w")
                        height = gr.Number(512, precision=0, label="Height", elem_id="extras_upscaling_resize_h")
                        crop = gr.Checkbox(True, label="Crop to fit", elem_id="extras_upscaling_crop")
            mode = gr.State(0)
            scale_by_tab.select(lambda: 0, None, [mode], api_visibility="private")
            scale_to_tab.select(lambda: 1, None, [mode], api_visibility="private")
            upscaler_1 = gr.Dropdown(names, value="Lanczos", label="Upscaler 1", elem_id="extras_upscaler_1")
            with gr.Row():
                upscaler_2 = gr.Dropdown(names, value="None", label="Upscaler 2", elem_id="extras_upscaler_2")
                visibility = gr.Slider(0, 1, value=0, step=0.001, label="Upscaler 2 visibility",
                                       elem_id="extras_upscaler_2_visibility")
            with gr.Row():
                gfpgan = gr.Slider(0, 1, value=0, step=0.001, label="GFPGAN visibility",
                                   elem_id="extras_gfpgan_visibility")
            with gr.Row():
                codeformer = gr.Slider(0, 1, value=0, step=0.001, label="CodeFormer visibility",
                                       elem_id="extras_codeformer_visibility")
                codeformer_weight = gr.Slider(0, 1, value=0, step=0.001,
                                              label="CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                                              elem_id="extras_codeformer_weight")
            run_button = gr.Button("Generate", variant="primary", elem_id="extras_generate")
        with gr.Column(scale=1):
            result = gr.Image(label="Result", type="filepath", interactive=False, elem_id="extras_result",
                              height=380, format="png")
            info = gr.HTML(elem_id="extras_info")

    async def run(source, resize_mode, scale, w, h, do_crop, name_1, name_2, weight, gfpgan_v, codeformer_v,
                  codeformer_w, request: gr.Request):
        if source is None:
            raise gr.Error("Extras: upload an image first")
        params = {"resize_mode": int(resize_mode), "upscaling_resize": float(scale),
                  "upscaling_resize_w": int(w or 512), "upscaling_resize_h": int(h or 512),
                  "upscaling_crop": bool(do_crop), "upscaler_1": name_1, "upscaler_2": name_2,
                  "extras_upscaler_2_visibility": float(weight), "gfpgan_visibility": float(gfpgan_v),
                  "codeformer_visibility": float(codeformer_v), "codeformer_weight": float(codeformer_w)}
        sub = Submission(user=getattr(request, "username", None), is_api=False)
        try:
            record = await asyncio.to_thread(services.pipeline.submit_extras_image, source, params, sub,
                                             save_output=True)
        except EaselError as e:
            raise gr.Error(e.message) from e
        record = await services.queue.wait(record.id)
        if record.status != TaskStatus.SUCCEEDED or not record.images:
            raise gr.Error(record.error or f"Extras: the task {record.status.value}")
        info = (record.info or {}).get("html_info", "")
        return gallery_files(services, record.images)[0], info

    run_button.click(run, [image, mode, resize, width, height, crop, upscaler_1, upscaler_2, visibility, gfpgan,
                           codeformer, codeformer_weight],
                     [result, info], api_visibility="private", concurrency_limit=None)
    return ExtrasTab(image, result, info)
