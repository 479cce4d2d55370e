"""The bar above the tabs (A1111's quicksettings): checkpoint and VAE pickers with refresh, and any other option
named in `quicksettings_list`. A picker sets its option only when the user picks another value; the lists and the
selection follow the server (modules/ui/watch.py): new files, a checkpoint switched by the API, or the fallback
after the selected checkpoint was deleted (shown in the status line)."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import gradio as gr

from modules.errors import EaselError
from modules.ui.icons import tool_button
from modules.ui.settings_components import coerce, component_for
from modules.ui.watch import Watcher

logger = logging.getLogger(__name__)
BUILT_IN = ("sd_model_checkpoint", "sd_vae")


@dataclass
class QuickSettings:
    checkpoint: gr.Dropdown
    vae: gr.Dropdown
    status: gr.Markdown
    extra: dict  # option key -> component


def checkpoint_titles(services) -> list[str]:
    return [info.title for info in services.checkpoints.list()]


def current_checkpoint(services) -> str | None:
    titles = checkpoint_titles(services)
    current = services.options.get("sd_model_checkpoint")
    if current in titles:
        return current
    if current:
        try:
            return services.checkpoints.get(current).title
        except EaselError:
            pass
    return titles[0] if titles else None


def _notice_text(services) -> str:
    notice = services.current_checkpoint.notice if services.current_checkpoint is not None else None
    return f"⚠ {notice.message}" if notice is not None else ""


def build_quicksettings(services, watcher: Watcher) -> QuickSettings:
    options = services.options
    with gr.Row(elem_id="quicksettings", equal_height=True):
        checkpoint = gr.Dropdown(checkpoint_titles(services), value=current_checkpoint(services),
                                 label="Stable Diffusion checkpoint", elem_id="setting_sd_model_checkpoint",
                                 scale=4, min_width=300)
        refresh_checkpoints = tool_button("refresh_sd_model_checkpoint", "refresh", "Refresh the list of "
                                          "checkpoints")
        vae = gr.Dropdown(services.vaes.names(), value=options.get("sd_vae"), label="SD VAE",
                          elem_id="setting_sd_vae", scale=3, min_width=240)
        refresh_vaes = tool_button("refresh_sd_vae", "refresh", "Refresh the list of VAEs")
        extra = {}
        for key in options.get("quicksettings_list") or []:
            if key in BUILT_IN or key not in options.table:
                continue
            extra[key] = component_for(key, options.table[key], options.get(key), scale=2, min_width=180)
        status = gr.Markdown("", elem_id="quicksettings_status")

    def set_option(key: str, value, label: str):
        if value in (None, "") or value == (current_checkpoint(services) if key == "sd_model_checkpoint"
                                            else options.get(key)):
            return gr.skip(), gr.skip()  # opening and closing the picker changes nothing
        try:
            options.set(key, value, is_api=False)  # loads the checkpoint / VAE
            options.save()
        except EaselError as e:
            raise gr.Error(e.message) from e
        logger.info("WebUI: %s set to %s", key, options.get(key))
        return gr.update(value=options.get(key)), f"{label}: {options.get(key)}"

    def refresh_checkpoint_list():
        services.checkpoints.refresh()
        return gr.Dropdown(choices=checkpoint_titles(services), value=current_checkpoint(services)), \
            _notice_text(services) or gr.skip()

    def refresh_vae_list():
        services.vaes.refresh()
        return gr.Dropdown(choices=services.vaes.names(), value=options.get("sd_vae"))

    refresh_checkpoints.click(refresh_checkpoint_list, None, [checkpoint, status], api_visibility="private")
    refresh_vaes.click(refresh_vae_list, None, [vae], api_visibility="private")
    checkpoint.input(lambda v: set_option("sd_model_checkpoint", v, "Checkpoint"), [checkpoint], [checkpoint, status],
                     api_visibility="private", show_progress="hidden")
    vae.input(lambda v: set_option("sd_vae", v, "VAE"), [vae], [vae, status], api_visibility="private",
              show_progress="hidden")
    for key, component in extra.items():
        def set_extra(value, _key=key):
            info = options.table[_key]
            return set_option(_key, coerce(info, value), info.label or _key)

        component.input(set_extra, [component], [component, status], api_visibility="private",
                        show_progress="hidden")

    watcher.follow(checkpoint, lambda: checkpoint_titles(services), lambda: current_checkpoint(services))
    watcher.follow(vae, services.vaes.names, lambda: options.get("sd_vae"))
    watcher.notice(status, lambda: _notice_text(services))
    for key, component in extra.items():
        watcher.value(component, functools.partial(options.get, key))
    return QuickSettings(checkpoint, vae, status, extra)
