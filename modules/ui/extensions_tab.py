"""The Extensions tab (A1111's "Installed" and "Install from URL"): every extension with an enable checkbox;
"Apply and restart UI" saves the unticked ones as `disabled_extensions` in config.json and restarts the server,
which then loads only the enabled ones (their tabs, scripts, scripts' UIs, flags, styles and javascript).
Installing from a URL needs the network, which Easel never uses: it is refused with what to do instead."""
from __future__ import annotations

import html
import logging

import gradio as gr

from modules.paths import REPO_ROOT
from modules.ui import restart

logger = logging.getLogger(__name__)


def offline_message(url: str) -> str:
    target = REPO_ROOT / "extensions"
    return (f"<p class='easel-error'>Easel works offline and never downloads code, so it cannot install "
            f"{html.escape(url or 'an extension')} from a URL.</p><p>Copy the extension's folder (for example a "
            f"<code>git clone</code> made on a machine with network access) into <code>{html.escape(str(target))}"
            "</code>, then press <b>Apply and restart UI</b> on the Installed tab.</p>")


def table_html(extensions) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(e.name)}</td><td>{'built-in' if e.is_builtin else 'installed'}</td>"
        f"<td>{'enabled' if e.enabled else 'disabled'}</td><td><code>{html.escape(str(e.path))}</code></td></tr>"
        for e in extensions)
    return ("<table class='easel-extensions'><thead><tr><th>Extension</th><th>Kind</th><th>Now</th><th>Folder</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def build_extensions_tab(services) -> None:
    extensions = list(services.extensions)
    names = [e.name for e in extensions]
    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", id="extensions_installed"):
            with gr.Row(equal_height=True):
                apply = gr.Button("Apply and restart UI", variant="primary", elem_id="extensions_apply", scale=0,
                                  min_width=200)
                status = gr.HTML("<p>Untick an extension to disable it; it stays on disk.</p>",
                                 elem_id="extensions_status")
            enabled = gr.CheckboxGroup(names, value=[e.name for e in extensions if e.enabled], label="Enabled",
                                       elem_id="extensions_enabled")
            gr.HTML(table_html(extensions), elem_id="extensions_table")
        with gr.Tab("Install from URL", id="extensions_install"):
            url = gr.Textbox(label="URL for extension's git repository", elem_id="extensions_install_url",
                             placeholder="https://github.com/...")
            install = gr.Button("Install", variant="primary", elem_id="extensions_install_button")
            result = gr.HTML(elem_id="extensions_install_result")
    install.click(offline_message, [url], [result], api_visibility="private")

    def save(checked: list[str] | None) -> None:
        disabled = sorted(set(names) - set(checked or []))
        services.options.set("disabled_extensions", disabled, is_api=False)
        services.options.save()
        logger.warning("extensions: disabled %s; restarting", ", ".join(disabled) or "none")

    restart.wire_button(apply, status, [enabled], before=save)
