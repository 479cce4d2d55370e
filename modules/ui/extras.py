"""The Extras tab: upscale and restore faces, for one image, a batch of uploaded images, or the images of a folder
in the data dir (A1111's Single Image / Batch Process / Batch from Directory). Each image is one extras task
submitted through the request pipeline, as the API's extra-single-image / extra-batch-images do."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from modules import upscalers
from modules.errors import EaselError
from modules.generation.pipeline import Submission
from modules.tasks.common import TaskStatus
from modules.ui import folder_batch
from modules.ui.outputs import gallery_files


@dataclass
class ExtrasTab:
    tabs: gr.Tabs
    image: gr.Image
    result: gr.Gallery
    info: gr.HTML


def build_extras(services) -> ExtrasTab:
    names = [u.name for u in upscalers.list_upscalers()]
    with gr.Row(elem_id="extras_main"):
        with gr.Column(scale=1, min_width=340):
            mode = gr.State("single")
            with gr.Tabs(elem_id="mode_extras") as tabs:
                with gr.Tab("Single Image", id="extras_single", elem_id="extras_single_tab") as single_tab:
                    image = gr.Image(label="Source", type="pil", sources=["upload", "clipboard"],
                                     elem_id="extras_image", height=360, image_mode=None)
                with gr.Tab("Batch Process", id="extras_batch", elem_id="extras_batch_process_tab") as batch_tab:
                    batch_files = gr.File(label="Batch Process", file_count="multiple", file_types=["image"],
                                          elem_id="extras_image_batch")
                with gr.Tab("Batch from Directory", id="extras_dir", elem_id="extras_batch_directory_tab") as dir_tab:
                    input_dir = gr.Textbox(label="Input directory", elem_id="extras_batch_input_dir",
                                           placeholder="a folder inside the data dir")
                    output_dir = gr.Textbox(label="Output directory", elem_id="extras_batch_output_dir",
                                            placeholder="empty: outputs/extras-images")
                    show_results = gr.Checkbox(True, label="Show result images", elem_id="extras_show_extras_results")
            for tab, name in ((single_tab, "single"), (batch_tab, "batch"), (dir_tab, "dir")):
                tab.select(lambda _name=name: _name, None, [mode], api_visibility="private", queue=False)
            with gr.Tabs(elem_id="extras_resize_mode"):
                with gr.Tab("Scale by", id="scale_by") as scale_by_tab:
                    resize = gr.Slider(1, 8, value=2, step=0.05, label="Resize", elem_id="extras_upscaling_resize")
                with gr.Tab("Scale to", id="scale_to") as scale_to_tab:
                    with gr.Row():
                        width = gr.Number(512, precision=0, label="Width", elem_id="extras_upscaling_resize_w",
                                          min_width=100)
                        height = gr.Number(512, precision=0, label="Height", elem_id="extras_upscaling_resize_h",
                                           min_width=100)
                        crop = gr.Checkbox(True, label="Crop to fit", elem_id="extras_upscaling_crop", min_width=100)
            resize_mode = gr.State(0)
            scale_by_tab.select(lambda: 0, None, [resize_mode], api_visibility="private")
            scale_to_tab.select(lambda: 1, None, [resize_mode], api_visibility="private")
            with gr.Row():
                upscaler_1 = gr.Dropdown(names, value="Lanczos", label="Upscaler 1", elem_id="extras_upscaler_1",
                                         min_width=160)
                upscaler_2 = gr.Dropdown(names, value="None", label="Upscaler 2", elem_id="extras_upscaler_2",
                                         min_width=160)
            visibility = gr.Slider(0, 1, value=0, step=0.001, label="Upscaler 2 visibility",
                                   elem_id="extras_upscaler_2_visibility")
            with gr.Accordion("Face restoration", open=False, elem_id="extras_face_restoration"):
                gfpgan = gr.Slider(0, 1, value=0, step=0.001, label="GFPGAN visibility",
                                   elem_id="extras_gfpgan_visibility")
                with gr.Row():
                    codeformer = gr.Slider(0, 1, value=0, step=0.001, label="CodeFormer visibility",
                                           elem_id="extras_codeformer_visibility", min_width=160)
                    codeformer_weight = gr.Slider(0, 1, value=0, step=0.001,
                                                  label="CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                                                  elem_id="extras_codeformer_weight", min_width=160)
            run_button = gr.Button("Generate", variant="primary", elem_id="extras_generate")
        with gr.Column(scale=1, min_width=340):
            result = gr.Gallery(label="Result", show_label=False, interactive=False, elem_id="extras_result",
                                height=420, columns=2, format="png", object_fit="contain")
            info = gr.HTML(elem_id="extras_info")

    async def one(source: Image.Image, params: dict, user: str | None):
        sub = Submission(user=user, is_api=False)
        try:
            record = await asyncio.to_thread(services.pipeline.submit_extras_image, source, params, sub,
                                             save_output=True)
        except EaselError as e:
            raise gr.Error(e.message) from e
        record = await services.queue.wait(record.id)
        if record.status != TaskStatus.SUCCEEDED or not record.images:
            raise gr.Error(record.error or f"Extras: the task {record.status.value}")
        return record

    async def run(request: gr.Request, kind, source, files, in_dir, out_dir, show, r_mode, scale, w, h, do_crop,
                  name_1, name_2, weight, gfpgan_v, codeformer_v, codeformer_w):
        params = {"resize_mode": int(r_mode), "upscaling_resize": float(scale), "upscaling_resize_w": int(w or 512),
                  "upscaling_resize_h": int(h or 512), "upscaling_crop": bool(do_crop), "upscaler_1": name_1,
                  "upscaler_2": name_2, "extras_upscaler_2_visibility": float(weight),
                  "gfpgan_visibility": float(gfpgan_v), "codeformer_visibility": float(codeformer_v),
                  "codeformer_weight": float(codeformer_w)}
        user = getattr(request, "username", None)
        sources: list[tuple[Path | None, Image.Image]]
        if kind == "single":
            if source is None:
                raise gr.Error("Extras: upload an image first")
            sources = [(None, source)]
        elif kind == "batch":
            if not files:
                raise gr.Error("Extras: add images to the batch first")
            sources = [(Path(getattr(f, "name", f)), folder_batch.open_image(Path(getattr(f, "name", f))))
                       for f in files]
        else:
            sources = [(p, folder_batch.open_image(p)) for p in
                       folder_batch.input_images(services, in_dir, "Input directory")]
        target = folder_batch.output_folder(services, out_dir, "Output directory") if kind == "dir" else None
        keys, html_info = [], ""
        for path, picture in sources:
            record = await one(picture, params, user)
            keys += record.images
            html_info = (record.info or {}).get("html_info", "")
            if path is not None:
                folder_batch.copy_results(services, record.images, target, path.stem)
        shown = gallery_files(services, keys) if kind != "dir" or show else []
        count = f"<p>{len(keys)} image(s) processed.</p>" if len(sources) > 1 else ""
        return [(p, None) for p in shown], html_info + count

    run_button.click(run, [mode, image, batch_files, input_dir, output_dir, show_results, resize_mode, resize, width,
                           height, crop, upscaler_1, upscaler_2, visibility, gfpgan, codeformer, codeformer_weight],
                     [result, info], api_visibility="private", concurrency_limit=None)
    return ExtrasTab(tabs, image, result, info)
