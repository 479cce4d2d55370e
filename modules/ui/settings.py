"""The Settings tab (A1111 1.6+ layout): a sidebar of sections with a search box and "Show all pages", every
option of `services.options.table` that Easel honours, "Apply settings" (saved to config.json through the options
service, which checks type and range) and "Reload UI". The values are read again on every page load, so a reload
never shows (or writes back) stale values."""
from __future__ import annotations

import html
import logging

import gradio as gr

from modules.errors import EaselError
from modules.ui import restart
from modules.ui.settings_components import coerce, component_for, shown_value

logger = logging.getLogger(__name__)

# Options the top bar or another tab edits.
SKIPPED = {"sd_model_checkpoint", "sd_vae", "disabled_extensions"}
# Sections of features Easel does not have (A1111 keeps their options; so does the API).
HIDDEN_SECTIONS = {"training", "interrogate"}
# Options accepted for compatibility that nothing reads yet: hidden so that Settings only shows what works.
# Remove a key here when its feature lands.
NOT_IMPLEMENTED = {
    "export_for_4chan", "sd_checkpoints_limit", "sd_vae_overrides_per_model_preferences", "enable_emphasis",
    "sd_lora", "img2img_color_correction", "img2img_background_color", "inpainting_mask_weight", "k_sched_type",
    "face_restoration_unload", "upscaler_for_img2img", "show_progress_every_n_steps", "show_progress_type",
    "enable_prompt_comments", "memmon_poll_rate", "multiple_tqdm", "disable_mmap_load_safetensors",
    "print_hypernet_extra", "return_mask", "return_mask_composite", "hires_fix_refiner_pass",
}
SECTION_TITLES = {
    "saving-images": "Saving images/grids", "saving-paths": "Paths for saving", "saving-to-dirs": "Saving to a directory",
    "sd": "Stable Diffusion", "compatibility": "Compatibility", "extra_networks": "Extra Networks",
    "img2img": "img2img", "sampler-params": "Sampler parameters", "face-restoration": "Face restoration",
    "upscaling": "Upscaling", "ui": "User interface", "infotext": "Infotext", "api": "API", "system": "System",
    "extensions": "Extensions",
}


def section_title(section: str) -> str:
    return SECTION_TITLES.get(section, section.replace("-", " ").replace("_", " ").capitalize())


def shown_options(options) -> dict[str, list[str]]:
    """{section: [keys]} of the options the tab shows, in table order."""
    sections: dict[str, list[str]] = {}
    for key, info in options.table.items():
        if key in SKIPPED or key in NOT_IMPLEMENTED or info.section in HIDDEN_SECTIONS:
            continue
        sections.setdefault(info.section, []).append(key)
    return sections


def apply_settings(options, keys: list[str], values: list) -> str:
    """Set every changed option (listeners run), save config.json, and say what changed or failed."""
    changed, errors = [], []
    for key, value in zip(keys, values):
        info = options.table.get(key)
        if info is None:
            continue
        try:
            if options.set(key, coerce(info, value), is_api=False):
                changed.append(key)
        except EaselError as e:
            errors.append(e.message)
    options.save()
    if changed:
        logger.info("WebUI settings changed: %s", ", ".join(changed))
    text = f"{len(changed)} setting(s) changed" + (f": {', '.join(changed)}." if changed else ".")
    if errors:
        text += "<br>" + "<br>".join(f"<span class='easel-error'>{html.escape(e)}</span>" for e in errors)
    return f"<p>{text}</p>"


def sidebar_html(sections: dict[str, list[str]]) -> str:
    items = "".join(f'<li><a href="#" data-section="{html.escape(s)}">{html.escape(section_title(s))}</a></li>'
                    for s in sections)
    return (f'<ul class="easel-settings-nav">{items}'
            '<li class="easel-settings-all"><a href="#" data-section="*">Show all pages</a></li></ul>')


def build_settings(services, demo: gr.Blocks) -> None:
    options = services.options
    sections = shown_options(options)
    with gr.Row(elem_id="settings_top", equal_height=True):
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=0, min_width=160)
        reload_ui = gr.Button("Reload UI", elem_id="settings_restart_gradio", scale=0, min_width=120)
        result = gr.HTML("<p>Changes are saved to config.json in the data dir.</p>", elem_id="settings_result")
    keys, components = [], []
    with gr.Row(elem_id="settings_body"):
        with gr.Column(scale=1, min_width=200, elem_id="settings_sidebar"):
            gr.Textbox(placeholder="Search settings...", show_label=False, container=False,
                       elem_id="settings_search")
            gr.HTML(sidebar_html(sections), elem_id="settings_nav", padding=False)
        with gr.Column(scale=4, elem_id="settings_pages"):
            for section, section_keys in sections.items():
                with gr.Column(elem_id=f"settings_section_{section}", elem_classes=["easel-settings-section"]):
                    gr.HTML(f"<h2>{html.escape(section_title(section))}</h2>", padding=False)
                    for key in section_keys:
                        keys.append(key)
                        components.append(component_for(key, options.table[key], options.get(key)))

    def on_apply(*values):
        return apply_settings(options, keys, list(values))

    def current_values():
        return [gr.update(value=shown_value(options.table[key], options.get(key))) for key in keys]

    apply.click(on_apply, components, [result], api_visibility="private").then(
        current_values, None, components, api_visibility="private", show_progress="hidden")
    demo.load(current_values, None, components, api_visibility="private", show_progress="hidden", queue=False)
    restart.wire_button(reload_ui, result)
