"""The txt2img tab: prompt, sampling settings, a Generate button and a gallery, through the task queue."""
from __future__ import annotations

import gradio as gr

from modules.api.models import Txt2ImgBody
from modules.api.to_request import Limits, build_request
from modules.engine import samplers


def build_txt2img(services) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="txt2img_prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2, elem_id="txt2img_neg_prompt")
        generate = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
    with gr.Row():
        with gr.Column():
            sampler = gr.Dropdown(samplers.sampler_names(), value="Euler a", label="Sampling method",
                                  elem_id="txt2img_sampling")
            schedule = gr.Dropdown([s.label for s in samplers.SCHEDULES], value="Automatic", label="Schedule type",
                                   elem_id="txt2img_scheduler")
            steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id="txt2img_steps")
            width = gr.Slider(64, 2048, value=512, step=8, label="Width", elem_id="txt2img_width")
            height = gr.Slider(64, 2048, value=512, step=8, label="Height", elem_id="txt2img_height")
            batch_count = gr.Slider(1, 16, value=1, step=1, label="Batch count", elem_id="txt2img_batch_count")
            batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id="txt2img_batch_size")
            cfg = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale", elem_id="txt2img_cfg_scale")
            seed = gr.Number(value=-1, label="Seed", precision=0, elem_id="txt2img_seed")
        with gr.Column():
            gallery = gr.Gallery(label="Output", elem_id="txt2img_gallery", columns=2)
            info = gr.Textbox(label="Generation info", lines=4, interactive=False, elem_id="txt2img_info")

    async def run(prompt_text, negative_text, sampler_name, schedule_label, steps_value, width_value, height_value,
                  n_iter, size, cfg_scale, seed_value):
        import asyncio

        body = Txt2ImgBody(prompt=prompt_text, negative_prompt=negative_text, sampler_name=sampler_name,
                           scheduler=schedule_label, steps=int(steps_value), width=int(width_value),
                           height=int(height_value), n_iter=int(n_iter), batch_size=int(size),
                           cfg_scale=float(cfg_scale), seed=int(seed_value))
        request = build_request(body, Limits.from_cmd_opts(services.cmd_opts), services.options)
        request.is_api = False
        task = services.generation.submit(request)
        done = await asyncio.wrap_future(task.future)
        images = done.result.images
        return [(image, text) for image, text in zip(images, done.result.infotexts)], \
            (done.result.infotexts[0] if done.result.infotexts else "")

    generate.click(run, inputs=[prompt, negative, sampler, schedule, steps, width, height, batch_count, batch_size,
                                cfg, seed], outputs=[gallery, info])
