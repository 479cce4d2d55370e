"""img2img's input sub-tabs (A1111 order): img2img, Sketch, Inpaint, Inpaint sketch, Inpaint upload, Batch; and the
init image / mask each of them gives."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from PIL import Image, ImageChops

MODES = ["img2img", "sketch", "inpaint", "inpaint_sketch", "inpaint_upload", "batch"]
TITLES = ["img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch"]
INPAINT_MODES = {"inpaint", "inpaint_sketch", "inpaint_upload", "batch"}
SKETCH_COLORS: list[str | tuple[str, float]] = ["#ffffff", "#000000", "#cc3232", "#32cc70", "#3270cc", "#e0c040"]


@dataclass
class Img2ImgInputs:
    tabs: gr.Tabs
    mode: gr.State  # one of MODES
    init_img: gr.Image
    sketch: gr.ImageEditor
    inpaint: gr.ImageEditor
    inpaint_sketch: gr.ImageEditor
    upload_image: gr.Image
    upload_mask: gr.Image
    batch_input_dir: gr.Textbox
    batch_output_dir: gr.Textbox
    batch_mask_dir: gr.Textbox

    def named(self) -> dict:
        return {"mode": self.mode, "init_img": self.init_img, "sketch": self.sketch, "inpaint": self.inpaint,
                "inpaint_sketch": self.inpaint_sketch, "upload_image": self.upload_image,
                "upload_mask": self.upload_mask, "batch_input_dir": self.batch_input_dir,
                "batch_output_dir": self.batch_output_dir, "batch_mask_dir": self.batch_mask_dir}


def _editor(elem_id: str, label: str, colors: list[str | tuple[str, float]], default: str) -> gr.ImageEditor:
    return gr.ImageEditor(label=label, type="pil", image_mode="RGBA", sources=["upload", "clipboard"],
                          elem_id=elem_id, height=420, layers=False, transforms=(), format="png",
                          brush=gr.Brush(default_size=24, colors=colors, default_color=default, color_mode="defaults"))


def build_inputs() -> Img2ImgInputs:
    mode = gr.State("img2img")
    with gr.Tabs(elem_id="mode_img2img", elem_classes=["easel-img2img-modes"]) as tabs:
        with gr.Tab("img2img", id="img2img_img2img_tab", elem_id="img2img_img2img_tab") as t0:
            init_img = gr.Image(label="Image for img2img", type="pil", sources=["upload", "clipboard"],
                                elem_id="img2img_image", height=420, image_mode=None, format="png")
        with gr.Tab("Sketch", id="img2img_img2img_sketch_tab", elem_id="img2img_img2img_sketch_tab") as t1:
            sketch = _editor("img2img_sketch", "Sketch (the painting is the picture)", SKETCH_COLORS, "#000000")
        with gr.Tab("Inpaint", id="img2img_inpaint_tab", elem_id="img2img_inpaint_tab") as t2:
            inpaint = _editor("img2maskimg", "Image for inpainting with mask (paint over it)", ["#ffffff", "#000000"],
                              "#ffffff")
        with gr.Tab("Inpaint sketch", id="img2img_inpaint_sketch_tab", elem_id="img2img_inpaint_sketch_tab") as t3:
            inpaint_sketch = _editor("inpaint_sketch", "Color sketch inpainting (painted parts are redone)",
                                     SKETCH_COLORS, "#cc3232")
        with gr.Tab("Inpaint upload", id="img2img_inpaint_upload_tab", elem_id="img2img_inpaint_upload_tab") as t4:
            upload_image = gr.Image(label="Image for img2img", type="pil", sources=["upload", "clipboard"],
                                    elem_id="img_inpaint_base", height=300, image_mode=None, format="png")
            upload_mask = gr.Image(label="Mask (white: repaint)", type="pil", sources=["upload", "clipboard"],
                                   elem_id="img_inpaint_mask", height=300, image_mode=None, format="png")
        with gr.Tab("Batch", id="img2img_batch_tab", elem_id="img2img_batch_tab") as t5:
            gr.Markdown("Process the images of a folder of the data dir (e.g. `inputs/photos`); results go to the "
                        "output folder, named after their inputs (empty: the usual outputs folder). Masks for "
                        "inpainting are found by file name in the mask folder.", elem_id="img2img_batch_hint")
            batch_input_dir = gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir",
                                         placeholder="a folder inside the data dir")
            batch_output_dir = gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir",
                                          placeholder="empty: outputs/img2img-images")
            batch_mask_dir = gr.Textbox(label="Inpaint batch mask directory (optional)",
                                        elem_id="img2img_batch_inpaint_mask_dir")
    for tab, name in zip((t0, t1, t2, t3, t4, t5), MODES):
        tab.select(lambda _name=name: _name, None, [mode], api_visibility="private", queue=False)
    return Img2ImgInputs(tabs, mode, init_img, sketch, inpaint, inpaint_sketch, upload_image, upload_mask,
                         batch_input_dir, batch_output_dir, batch_mask_dir)


def painted_mask(value, size: tuple[int, int]) -> Image.Image | None:
    """White wherever any layer of an ImageEditor value was painted; None when nothing was."""
    mask = None
    for layer in (value or {}).get("layers") or []:
        if layer is None:
            continue
        alpha = layer.convert("RGBA").getchannel("A").point(lambda a: 255 if a > 0 else 0)
        if alpha.size != size:
            alpha = alpha.resize(size, Image.Resampling.NEAREST)
        if alpha.getbbox() is None:
            continue
        mask = alpha if mask is None else ImageChops.lighter(mask, alpha)
    return mask


def split_editor_value(value) -> tuple[Image.Image | None, Image.Image | None]:
    """(init image, mask) of the Inpaint editor: the background, and white wherever a layer was painted."""
    background = value.get("background") if isinstance(value, dict) else None
    if background is None:
        return None, None
    init = background.convert("RGB")
    return init, painted_mask(value, init.size)


def _composite(value) -> Image.Image | None:
    if not isinstance(value, dict):
        return None
    picture = value.get("composite") or value.get("background")
    if picture is None:
        return None
    if picture.mode == "RGBA":  # transparent parts of a sketch are white, as on paper
        paper = Image.new("RGB", picture.size, (255, 255, 255))
        paper.paste(picture, mask=picture.getchannel("A"))
        return paper
    return picture.convert("RGB")


def init_and_mask(v: dict) -> tuple[Image.Image | None, Image.Image | None]:
    """The init image and mask of the selected sub-tab (not for "batch")."""
    mode = v["mode"]
    if mode == "img2img":
        image = v["init_img"]
        return (image.convert("RGB") if image is not None else None), None
    if mode == "sketch":
        return _composite(v["sketch"]), None
    if mode == "inpaint":
        return split_editor_value(v["inpaint"])
    if mode == "inpaint_sketch":
        init = _composite(v["inpaint_sketch"])
        return init, painted_mask(v["inpaint_sketch"], init.size) if init is not None else None
    if mode == "inpaint_upload":
        image, mask = v["upload_image"], v["upload_mask"]
        if image is None:
            return None, None
        if mask is not None:
            mask = mask.convert("L").resize(image.size, Image.Resampling.NEAREST)
        return image.convert("RGB"), mask
    return None, None
