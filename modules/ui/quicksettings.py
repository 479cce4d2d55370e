"""The bar above the tabs: checkpoint and VAE pickers with refresh (A1111's quicksettings)."""
from __future__ import annotations

import logging

import gradio as gr

from modules.errors import EaselError

logger = logging.getLogger(__name__)
POLL_SECONDS = 5.0


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


def build_quicksettings(services, demo: gr.Blocks) -> None:
    with gr.Row(elem_id="quicksettings", equal_height=True):
        checkpoint = gr.Dropdown(checkpoint_titles(services), value=current_checkpoint(services),
                                 label="Stable Diffusion checkpoint", elem_id="setting_sd_model_checkpoint",
                                 scale=4, min_width=300)
        refresh_checkpoints = gr.Button("\U0001f504", elem_id="refresh_sd_model_checkpoint", elem_classes=["tool"],
                                        scale=0, min_width=40)
        vae = gr.Dropdown(services.vaes.names(), value=services.options.get("sd_vae"), label="SD VAE",
                          elem_id="setting_sd_vae", scale=3, min_width=240)
        refresh_vaes = gr.Button("\U0001f504", elem_id="refresh_sd_vae", elem_classes=["tool"], scale=0,
                                 min_width=40)
        status = gr.Markdown("", elem_id="quicksettings_status")

    def refresh_checkpoint_list():
        services.checkpoints.refresh()
        return gr.Dropdown(choices=checkpoint_titles(services), value=current_checkpoint(services))

    def refresh_vae_list():
        services.vaes.refresh()
        return gr.Dropdown(choices=services.vaes.names(), value=services.options.get("sd_vae"))

    def set_option(key: str, value: str, label: str):
        if not value:
            return gr.update(), ""
        try:
            services.options.set(key, value, is_api=False)  # loads the checkpoint / VAE
            services.options.save()
        except EaselError as e:
            raise gr.Error(e.message) from e
        logger.info("WebUI: %s set to %s", key, value)
        return gr.update(value=services.options.get(key)), f"{label}: {services.options.get(key)}"

    refresh_checkpoints.click(refresh_checkpoint_list, None, [checkpoint], api_visibility="private")
    refresh_vaes.click(refresh_vae_list, None, [vae], api_visibility="private")
    checkpoint.input(lambda v: set_option("sd_model_checkpoint", v, "Checkpoint"), [checkpoint], [checkpoint, status],
                     api_visibility="private")
    vae.input(lambda v: set_option("sd_vae", v, "VAE"), [vae], [vae, status], api_visibility="private")

    # The lists follow the files by themselves (FileBrowser uploads rescan the registries): a light poll that
    # only sends an update when the choices changed.
    def follow(shown_checkpoints: list | None, shown_vaes: list | None):
        titles, vaes = checkpoint_titles(services), services.vaes.names()
        return (gr.Dropdown(choices=titles) if titles != list(shown_checkpoints or []) else gr.skip(),
                gr.Dropdown(choices=vaes) if vaes != list(shown_vaes or []) else gr.skip(),
                titles, vaes)

    shown_checkpoints = gr.State(checkpoint_titles(services))
    shown_vaes = gr.State(services.vaes.names())
    timer = gr.Timer(POLL_SECONDS)
    timer.tick(follow, [shown_checkpoints, shown_vaes], [checkpoint, vae, shown_checkpoints, shown_vaes],
               api_visibility="private", show_progress="hidden", queue=False)

    def on_load():
        titles, vaes = checkpoint_titles(services), services.vaes.names()
        return (gr.Dropdown(choices=titles, value=current_checkpoint(services)),
                gr.Dropdown(choices=vaes, value=services.options.get("sd_vae")), titles, vaes)

    demo.load(on_load, None, [checkpoint, vae, shown_checkpoints, shown_vaes], api_visibility="private",
              show_progress="hidden", queue=False)
