"""The preprocessors (annotators) under the extension's module names, labels and sliders.

The weight-free ones run here (OpenCV and numpy); the learned ones (depth, pose, edges from networks,
segmentation, ...) are listed with their sliders so clients see the same list, and refuse with a 4xx that
names the annotator weights they need under models/ControlNet/annotator/ (not shipped, never downloaded).
`model_free` keeps the extension's meaning: the preprocessor works without a ControlNet model (reference_*,
revision); that is false for every preprocessor here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from modules.errors import InvalidRequestError

ANNOTATOR_DIR = "models/ControlNet/annotator"


@dataclass(frozen=True)
class Slider:
    label: str
    minimum: float
    maximum: float
    value: float
    step: float = 0.01

    def api_json(self) -> dict:
        return {"name": self.label, "value": self.value, "min": self.minimum, "max": self.maximum, "step": self.step}


RESOLUTION = Slider("Resolution", 64, 2048, 512, 8)


@dataclass(frozen=True)
class Preprocessor:
    """`run(image HWC uint8 (RGB, or RGBA for masks), resolution, a, b) -> HWC uint8` for weight-free ones;
    `annotator` names the weights a learned one needs (then `run` is None)."""

    name: str
    label: str
    tags: tuple[str, ...] = ()
    resolution: Slider | None = RESOLUTION
    slider_1: Slider | None = None
    slider_2: Slider | None = None
    priority: int = 0
    run: Callable[..., np.ndarray] | None = None
    annotator: str | None = None
    accepts_mask: bool = False
    soft_in_hires: bool = False  # the extension's use_soft_projection_in_hr_fix (edge maps)

    @property
    def weight_free(self) -> bool:
        return self.run is not None

    def sliders(self) -> list[Slider]:
        return [s for s in (self.resolution, self.slider_1, self.slider_2) if s is not None]

    def detail(self) -> dict:
        """`module_detail` entry of /controlnet/module_list (plus Easel's additive `weight_free`/`annotator`)."""
        return {"model_free": False, "sliders": [s.api_json() for s in self.sliders()],
                "weight_free": self.weight_free, "annotator": f"{ANNOTATOR_DIR}/{self.annotator}"
                if self.annotator else None}

    def defaults(self, processor_res: float, threshold_a: float, threshold_b: float) -> tuple[int, float, float]:
        """Out-of-range values (including the API's -1) become the slider defaults, as the extension does."""
        def pick(slider: Slider | None, value: float) -> float:
            if slider is None:
                return value
            return slider.value if not slider.minimum <= value <= slider.maximum else value

        resolution = pick(self.resolution or RESOLUTION, processor_res)
        return int(resolution), float(pick(self.slider_1, threshold_a)), float(pick(self.slider_2, threshold_b))

    def __call__(self, image: np.ndarray, resolution: int, a: float, b: float,
                 rng: np.random.Generator | None = None) -> np.ndarray:
        if self.run is None:
            raise InvalidRequestError(f"preprocessor {self.name!r} needs its annotator weights in "
                                      f"{ANNOTATOR_DIR}/{self.annotator}", field="module")
        return self.run(image, resolution, a, b, rng)


# -- image helpers ----------------------------------------------------------------------------------------------
def hwc3(x: np.ndarray) -> np.ndarray:
    """uint8 HW / HWC1 / HWC3 / HWC4 -> HWC3 (alpha composited over white), as the extension's HWC3."""
    if x.ndim == 2:
        x = x[:, :, None]
    channels = x.shape[2]
    if channels == 3:
        return x
    if channels == 1:
        return np.concatenate([x, x, x], axis=2)
    color = x[:, :, :3].astype(np.float32)
    alpha = x[:, :, 3:4].astype(np.float32) / 255.0
    return (color * alpha + 255.0 * (1.0 - alpha)).clip(0, 255).astype(np.uint8)


def resize_with_pad(image: np.ndarray, resolution: int) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Shortest side to `resolution` (cubic up, area down), edge-padded to multiples of 64; and the unpad."""
    img = hwc3(image)
    height, width = img.shape[:2]
    k = float(resolution) / float(min(height, width))
    interpolation = cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA
    new_h, new_w = int(np.round(height * k)), int(np.round(width * k))
    img = cv2.resize(img, (new_w, new_h), interpolation=interpolation)
    pad_h, pad_w = -new_h % 64, -new_w % 64
    padded = np.pad(img, [[0, pad_h], [0, pad_w], [0, 0]], mode="edge")
    return np.ascontiguousarray(padded), lambda x: np.ascontiguousarray(x[:new_h, :new_w])


# -- the weight-free preprocessors ---------------------------------------------------------------------------
def _none(image, _res, _a, _b, _rng):
    return image


def _invert(image, _res, _a, _b, _rng):
    return 255 - hwc3(image)


def _canny(image, res, low, high, _rng):
    img, unpad = resize_with_pad(image, res)
    return unpad(hwc3(cv2.Canny(img, int(low), int(high))))


def _threshold(image, res, level, _b, _rng):
    img, unpad = resize_with_pad(image, res)
    out = np.zeros_like(img)
    out[np.min(img, axis=2) > level] = 255
    return unpad(out)


def _scribble_xdog(image, res, level, _b, _rng):
    img, unpad = resize_with_pad(image, res)
    fine = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.5)
    coarse = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 5.0)
    dog = (255 - np.min(coarse - fine, axis=2)).clip(0, 255).astype(np.uint8)
    out = np.zeros_like(img)
    out[2 * (255 - dog) > level] = 255
    return unpad(out)


def _lineart_standard(image, res, _a, _b, _rng):
    img, unpad = resize_with_pad(image, res)
    x = img.astype(np.float32)
    intensity = np.min(cv2.GaussianBlur(x, (0, 0), 6.0) - x, axis=2).clip(0, 255)
    strong = intensity[intensity > 8]
    intensity /= max(16.0, float(np.median(strong)) if strong.size else 16.0)
    return unpad(hwc3((intensity * 127).clip(0, 255).astype(np.uint8)))


def _tile_resample(image, _res, rate, _b, _rng):
    img = hwc3(image)
    if rate < 1.1:
        return img
    height, width = img.shape[:2]
    return cv2.resize(img, (int(width / rate), int(height / rate)), interpolation=cv2.INTER_AREA)


def _blur_gaussian(image, res, sigma, _b, _rng):
    img, unpad = resize_with_pad(image, res)
    return cv2.GaussianBlur(unpad(img), (0, 0), float(sigma))


def _color(image, res, _a, _b, _rng):
    """t2ia_color_grid: shortest side to res, then a 64x coarser palette blown up with nearest neighbours."""
    img = hwc3(image)
    height, width = img.shape[:2]
    if height < width:
        size = (int(round(width / height * res)), int(res))
    else:
        size = (int(res), int(round(height / width * res)))
    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    height, width = img.shape[:2]
    small = cv2.resize(img, (max(1, width // 64), max(1, height // 64)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def _noise_disk(rng: np.random.Generator, height: int, width: int, f: int) -> np.ndarray:
    noise = rng.uniform(0.0, 1.0, size=(height // f + 2, width // f + 2))
    noise = cv2.resize(noise, (width + 2 * f, height + 2 * f), interpolation=cv2.INTER_CUBIC)[f:f + height, f:f + width]
    noise -= noise.min()
    return noise / max(float(noise.max()), 1e-8)


def _shuffle(image, res, _a, _b, rng):
    """Content shuffle: remap through a smooth random flow field (seeded from the request's seed)."""
    img, unpad = resize_with_pad(image, res)
    img = unpad(img)
    height, width = img.shape[:2]
    rng = rng or np.random.default_rng(0)
    flow_x = _noise_disk(rng, height, width, 256) * float(width - 1)
    flow_y = _noise_disk(rng, height, width, 256) * float(height - 1)
    flow = np.stack([flow_x, flow_y], axis=2).astype(np.float32)
    return cv2.remap(img, flow, None, cv2.INTER_LINEAR)


def _recolor(conversion: int, channel: int):
    def run(image, _res, gamma, _b, _rng):
        value = cv2.cvtColor(hwc3(image), conversion)[:, :, channel].astype(np.float32) / 255.0
        value = (value ** gamma * 255.0).clip(0, 255).astype(np.uint8)
        return cv2.cvtColor(value, cv2.COLOR_GRAY2RGB)
    return run


def _inpaint(image, _res, _a, _b, _rng):
    """RGBA: the colour and the mask in the alpha channel (the hint is built from both)."""
    if image.ndim == 3 and image.shape[2] == 4:
        return image
    rgb = hwc3(image)
    return np.concatenate([rgb, np.zeros_like(rgb[:, :, :1])], axis=2)


def _learned(name: str, label: str, tags: tuple[str, ...], annotator: str, *, resolution: Slider | None = RESOLUTION,
             slider_1: Slider | None = None, slider_2: Slider | None = None, priority: int = 0,
             soft: bool = False) -> Preprocessor:
    return Preprocessor(name, label, tags, resolution, slider_1, slider_2, priority, None, annotator,
                        soft_in_hires=soft)


_ALL: tuple[Preprocessor, ...] = (
    Preprocessor("none", "none", ("InstructP2P",), None, priority=10, run=_none),
    Preprocessor("invert", "invert (from white bg & black line)", ("Canny", "Lineart", "Scribble", "MLSD"), None,
                 priority=20, run=_invert),
    Preprocessor("canny", "canny", ("Canny",), RESOLUTION, Slider("Low Threshold", 1, 255, 100, 1),
                 Slider("High Threshold", 1, 255, 200, 1), 100, _canny, soft_in_hires=True),
    Preprocessor("threshold", "threshold", (), RESOLUTION, Slider("Binarization Threshold", 0, 255, 127, 1),
                 run=_threshold),
    Preprocessor("scribble_xdog", "scribble_xdog", ("Scribble", "SparseCtrl"), RESOLUTION,
                 Slider("XDoG Threshold", 1, 64, 32, 1), run=_scribble_xdog),
    Preprocessor("lineart_standard", "lineart_standard (from white bg & black line)", ("Lineart",), RESOLUTION,
                 priority=100, run=_lineart_standard),
    Preprocessor("tile_resample", "tile_resample", ("Tile",), None, Slider("Down Sampling Rate", 1.0, 8.0, 1.0),
                 priority=100, run=_tile_resample),
    Preprocessor("blur_gaussian", "blur_gaussian", ("Tile",), RESOLUTION, Slider("Sigma", 0.01, 64.0, 9.0),
                 run=_blur_gaussian),
    Preprocessor("color", "t2ia_color_grid", ("T2I-Adapter",), RESOLUTION, run=_color),
    Preprocessor("shuffle", "shuffle", ("Shuffle",), None, run=_shuffle),
    Preprocessor("recolor_luminance", "recolor_luminance", ("Recolor",), None,
                 Slider("Gamma Correction", 0.1, 2.0, 1.0, 0.001), priority=100,
                 run=_recolor(cv2.COLOR_BGR2LAB, 0)),
    Preprocessor("recolor_intensity", "recolor_intensity", ("Recolor",), None,
                 Slider("Gamma Correction", 0.1, 2.0, 1.0, 0.001), run=_recolor(cv2.COLOR_BGR2HSV, 2)),
    Preprocessor("inpaint", "inpaint_global_harmonious", ("Inpaint",), None, run=_inpaint, accepts_mask=True),
    Preprocessor("inpaint_only", "inpaint_only", ("Inpaint",), None, priority=100, run=_inpaint,
                 accepts_mask=True),
    _learned("inpaint_only+lama", "inpaint_only+lama", ("Inpaint",), "lama/ControlNetLama.pth", resolution=None),
    _learned("depth", "depth_midas", ("Depth",), "midas/dpt_hybrid-midas-501f0c75.pt", priority=100),
    _learned("depth_leres", "depth_leres", ("Depth",), "leres/res101.pth",
             slider_1=Slider("Remove Near %", 0, 100, 0, 0.1), slider_2=Slider("Remove Background %", 0, 100, 0, 0.1)),
    _learned("depth_leres++", "depth_leres++", ("Depth",), "leres/res101.pth",
             slider_1=Slider("Remove Near %", 0, 100, 0, 0.1), slider_2=Slider("Remove Background %", 0, 100, 0, 0.1)),
    _learned("depth_zoe", "depth_zoe", ("Depth",), "zoedepth/ZoeD_M12_N.pt", resolution=None),
    _learned("depth_anything", "depth_anything", ("Depth",), "depth_anything/depth_anything_vitl14.pth",
             resolution=None),
    _learned("depth_anything_v2", "depth_anything_v2", ("Depth",), "depth_anything_v2/depth_anything_v2_vitl.pth",
             resolution=None),
    _learned("normal_map", "normal_midas", ("NormalMap",), "midas/dpt_hybrid-midas-501f0c75.pt",
             slider_1=Slider("Normal Background Threshold", 0.0, 1.0, 0.4)),
    _learned("normal_bae", "normal_bae", ("NormalMap",), "normal_bae/scannet.pt", resolution=None, priority=100),
    _learned("openpose", "openpose", ("OpenPose",), "openpose/body_pose_model.pth"),
    _learned("openpose_face", "openpose_face", ("OpenPose",), "openpose/facenet.pth", resolution=None),
    _learned("openpose_faceonly", "openpose_faceonly", ("OpenPose",), "openpose/facenet.pth", resolution=None),
    _learned("openpose_full", "openpose_full", ("OpenPose",), "openpose/hand_pose_model.pth", priority=100),
    _learned("openpose_hand", "openpose_hand", ("OpenPose",), "openpose/hand_pose_model.pth", resolution=None),
    _learned("dw_openpose_full", "dw_openpose_full", ("OpenPose",), "dw_openpose/dw-ll_ucoco_384.onnx"),
    _learned("animal_openpose", "animal_openpose", ("OpenPose",), "dw_openpose/rtmpose-m_ap10k_256.onnx"),
    _learned("hed", "softedge_hed", ("SoftEdge",), "hed/ControlNetHED.pth"),
    _learned("hed_safe", "softedge_hedsafe", ("SoftEdge",), "hed/ControlNetHED.pth"),
    _learned("pidinet", "softedge_pidinet", ("SoftEdge",), "pidinet/table5_pidinet.pth", resolution=None,
             priority=100),
    _learned("pidinet_safe", "softedge_pidisafe", ("SoftEdge",), "pidinet/table5_pidinet.pth", resolution=None),
    _learned("te_hed", "softedge_teed", ("SoftEdge",), "TEED/7_model.pth"),
    _learned("scribble_hed", "scribble_hed", ("Scribble", "SparseCtrl"), "hed/ControlNetHED.pth"),
    _learned("pidinet_scribble", "scribble_pidinet", ("Scribble", "SparseCtrl"), "pidinet/table5_pidinet.pth",
             resolution=None, priority=100),
    _learned("pidinet_sketch", "t2ia_sketch_pidi", ("T2I-Adapter",), "pidinet/table5_pidinet.pth", resolution=None),
    _learned("lineart", "lineart_realistic", ("Lineart",), "lineart/sk_model.pth", resolution=None),
    _learned("lineart_coarse", "lineart_coarse", ("Lineart",), "lineart/sk_model2.pth", resolution=None),
    _learned("lineart_anime", "lineart_anime", ("Lineart",), "lineart_anime/netG.pth", resolution=None),
    _learned("lineart_anime_denoise", "lineart_anime_denoise", ("Lineart",), "manga_line/res_skip.pth",
             resolution=None),
    _learned("mlsd", "mlsd", ("MLSD",), "mlsd/mlsd_large_512_fp32.pth", priority=100, soft=True,
             slider_1=Slider("MLSD Value Threshold", 0.01, 2.0, 0.1), slider_2=Slider("MLSD Distance Threshold",
                                                                                      0.01, 20.0, 0.1)),
    _learned("segmentation", "seg_ufade20k", ("Segmentation",), "uniformer/upernet_global_small.pth"),
    _learned("oneformer_coco", "seg_ofcoco", ("Segmentation",), "oneformer/150_16_swin_l_oneformer_coco_100ep.pth",
             resolution=None),
    _learned("oneformer_ade20k", "seg_ofade20k", ("Segmentation",),
             "oneformer/250_16_swin_l_oneformer_ade20k_160k.pth", resolution=None, priority=100),
    _learned("anime_face_segment", "seg_anime_face", ("Segmentation",), "anime_face_segment/UNet.pth"),
    _learned("mediapipe_face", "mediapipe_face", (), "mediapipe_face/face_landmarker.task",
             slider_1=Slider("Max Faces", 1, 10, 1, 1), slider_2=Slider("Min Face Confidence", 0.01, 1.0, 0.5)),
    _learned("densepose", "densepose (pruple bg & purple torso)", ("OpenPose",),
             "densepose/densepose_r50_fpn_dl.torchscript"),
)
OLD_NAMES = {"binary": "threshold", "fake_scribble": "scribble_hed"}  # names of earlier extension versions
_BY_NAME = {p.name: p for p in _ALL}
_BY_LABEL = {p.label: p for p in _ALL}


def get(name: str) -> Preprocessor | None:
    """By name, label (the UI's alias) or an old name; case-sensitive like the extension, then case-insensitive."""
    found = _BY_LABEL.get(name) or _BY_NAME.get(name) or _BY_NAME.get(OLD_NAMES.get(name, ""))
    if found is None and isinstance(name, str):
        lowered = name.lower()
        found = next((p for p in _ALL if lowered in (p.name.lower(), p.label.lower())), None)
    return found


def sorted_all() -> list[Preprocessor]:
    """"none" first, then by priority and label, descending (the extension's order)."""
    rest = [p for p in _ALL if p.name != "none"]
    rest.sort(key=lambda p: str(p.priority).zfill(8) + p.label, reverse=True)
    return [_BY_NAME["none"], *rest]


def weight_free() -> list[Preprocessor]:
    return [p for p in sorted_all() if p.weight_free]


def all_tags() -> list[str]:
    return ["All", *sorted({tag for p in _ALL for tag in p.tags})]


TAG_FILTERS = {"instructp2p": ("ip2p",), "segmentation": ("seg",), "normalmap": ("normal",),
               "t2i-adapter": ("t2i_adapter", "t2iadapter", "t2ia"), "openpose": ("openpose", "densepose"),
               "scribble": ("sketch",), "tile": ("blur",)}


def tag_filters(tag: str) -> set[str]:
    """Substrings a model name has to contain to be listed under a control type (the extension's filters)."""
    lowered = tag.lower()
    return {lowered, *TAG_FILTERS.get(lowered, ())}
