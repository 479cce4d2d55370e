"""The gallery's Save / Zip / Open folder buttons (A1111's `save_files`, "Open images output directory").

Save copies the selected image (every image unless `save_selected_only`) into `outdir_save` (log/images in the
data dir, confined like every output folder) with a line in its log.csv, and offers the files for download; Zip
puts them in one archive there. Open folder shows the tab's outputs folder in the FileBrowser tab.
"""
from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import gradio as gr

from modules.image_saving import samples_folder
from modules.infotext import parse_generation_parameters
from modules.path_guard import PathGuard, make_dirs
from modules.paths import private_paths
from modules.ui.outputs import OutputPanel, gallery_paths, infotext_at, ui_temp_dir

LOG_FIELDS = ["prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename", "negative_prompt"]


def save_folder(services) -> Path:
    data_dir = services.paths.data_dir
    guard = PathGuard(data_dir, protected=private_paths(data_dir))
    return make_dirs(guard.confine(services.options.get("outdir_save"), field="outdir_save"), guard,
                     field="outdir_save")


def _next_number(folder: Path) -> int:
    numbers = [int(p.name[:5]) for p in folder.iterdir() if p.name[:5].isdigit()]
    return max(numbers, default=-1) + 1


def _log_row(folder: Path, infotext: str, filename: str) -> None:
    params = parse_generation_parameters(infotext) if infotext else {}
    log = folder / "log.csv"
    new = not log.exists()
    with open(log, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(LOG_FIELDS)
        writer.writerow([params.get("Prompt", ""), params.get("Seed", ""), params.get("Size-1", ""),
                         params.get("Size-2", ""), params.get("Sampler", ""), params.get("CFG scale", ""),
                         params.get("Steps", ""), filename, params.get("Negative prompt", "")])


def save_images(services, paths: list[str], infotexts: list[str], *, as_zip: bool) -> list[str]:
    """Copy `paths` into the save folder (or zip them there); returns download copies (the UI temp dir)."""
    if not paths:
        raise gr.Error("Nothing to save: generate an image first.")
    folder = save_folder(services)
    number = _next_number(folder)
    saved = []
    for i, (path, text) in enumerate(zip(paths, infotexts)):
        source = Path(path)
        target = folder / f"{number + i:05d}-{source.name}"
        shutil.copyfile(source, target)
        _log_row(folder, text, target.name)
        saved.append(target)
    if as_zip:
        archive = folder / f"{number:05d}-images-{time.strftime('%Y%m%d-%H%M%S')}.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for target in saved:
                z.write(target, target.name)
        saved = [archive]
    downloads = Path(tempfile.mkdtemp(prefix="save-", dir=ui_temp_dir()))
    return [str(shutil.copyfile(target, downloads / target.name)) for target in saved]


def wire_gallery_tools(services, tab: str, panel: OutputPanel, filebrowser: bool) -> None:
    def infotexts_for(info_json: str, count: int) -> list[str]:
        texts = json.loads(info_json or "{}").get("infotexts", [])
        return [texts[i] if i < len(texts) else "" for i in range(count)]

    def save(gallery, index, info_json, zip_them: bool):
        paths = gallery_paths(gallery)
        if services.options.get("save_selected_only") and not zip_them:
            index = index if isinstance(index, int) and 0 <= index < len(paths) else 0
            chosen, texts = paths[index:index + 1], [infotext_at(info_json, index)]
        else:
            chosen, texts = paths, infotexts_for(info_json, len(paths))
        files = save_images(services, chosen, texts, as_zip=zip_them)
        return gr.File(value=files, visible=True)

    inputs = [panel.gallery, panel.selected, panel.generation_info]
    panel.save.click(lambda g, i, t: save(g, i, t, False), inputs, [panel.download], api_visibility="private")
    panel.save_zip.click(lambda g, i, t: save(g, i, t, True), inputs, [panel.download], api_visibility="private")
    if not filebrowser:
        panel.open_folder.visible = False
        return

    folder = gr.Textbox(visible=False, elem_id=f"{tab}_open_folder_path")

    def outputs_folder() -> str:
        path = samples_folder(services.options, services.paths.data_dir, tab)
        return path.relative_to(services.paths.data_dir).as_posix()

    panel.open_folder.click(outputs_folder, None, [folder], api_visibility="private").then(
        None, [folder], None, js="(path) => { window.easelOpenInFileBrowser(path); return []; }")

