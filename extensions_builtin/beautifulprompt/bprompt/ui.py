"""The BeautifulPrompt WebUI tab (Gradio 6): short prompt in, several detailed prompts out, send to txt2img/img2img.

Sending is done in the browser only (the button's `js=` callback): it switches to the target tab and fills
`#<tab>_prompt textarea`, so this tab needs nothing from the code that builds the other tabs.
"""
from __future__ import annotations

import gradio as gr

from bprompt.expander_common import LIMITS, ExpandParams
from bprompt.registry import ExpanderRegistry
from modules.errors import EaselError

_DEFAULTS = ExpandParams()

# Arguments: the selected prompt and the whole result text (first non-empty line if nothing is selected).
# Gradio 6 renders visible tab buttons with role="tab" and tabs that do not fit in an ".overflow-dropdown" menu.
_SEND_JS = """
(selected, results) => {
  const tab = "%s";
  const text = (selected || (results || "").split("\\n").find((line) => line.trim()) || "").trim();
  if (!text) return [];
  const roots = [document.querySelector("gradio-app")?.shadowRoot, document].filter(Boolean);
  const find = (selector) => roots.map((r) => r.querySelector(selector)).find(Boolean);
  const fill = () => {
    const area = find("#" + tab + "_prompt textarea");
    if (!area) return false;
    area.value = text;
    area.dispatchEvent(new Event("input", {bubbles: true}));
    return true;
  };
  const buttons = roots.flatMap((r) => [...r.querySelectorAll("button[role='tab'], .overflow-dropdown button")]);
  const button = buttons.find((b) => b.textContent.trim().toLowerCase() === tab);
  fill();
  if (button) button.click();
  let tries = 0;
  const timer = setInterval(() => { if (fill() || ++tries > 30) clearInterval(timer); }, 100);
  return [];
}
"""


def send_js(tab: str) -> str:
    """The `js=` callback that puts the chosen prompt into `tab` ("txt2img" or "img2img") and opens it."""
    return _SEND_JS % tab


def _slider(name: str, label: str, step: float, minimum: float | None = None, maximum: float | None = None,
            ) -> gr.Slider:
    low, high = LIMITS[name]
    return gr.Slider(minimum if minimum is not None else low, maximum if maximum is not None else high,
                     value=getattr(_DEFAULTS, name), step=step, label=label, elem_id=f"beautifulprompt_{name}")


def build_tab(registry: ExpanderRegistry) -> gr.Blocks:
    """Build the tab's Blocks (not launched); the app renders it as the "BeautifulPrompt" tab."""
    with gr.Blocks(analytics_enabled=False) as tab:
        with gr.Row():
            prompt = gr.Textbox(label="Prompt", placeholder="a short idea, e.g. a cat in a garden (Enter expands, "
                                "Shift+Enter starts a new line)", lines=2,
                                scale=5, elem_id="beautifulprompt_input")
            expand = gr.Button("Expand", variant="primary", scale=1, elem_id="beautifulprompt_expand")
        with gr.Row():
            model = gr.Dropdown(registry.names(), value=registry.default_name(), label="Model", scale=5,
                                elem_id="beautifulprompt_model")
            refresh = gr.Button("Refresh", scale=1, elem_id="beautifulprompt_refresh")
        with gr.Row():
            with gr.Column(scale=1):
                temperature = _slider("temperature", "Temperature", 0.05, maximum=2.0)
                top_k = _slider("top_k", "Top-k (0 = off)", 1, maximum=200)
                top_p = _slider("top_p", "Top-p", 0.01)
                repetition_penalty = _slider("repetition_penalty", "Repetition penalty", 0.05)
                max_length = _slider("max_length", "Max length (tokens; words for the built-in)", 1, maximum=384)
                count = _slider("count", "Number of prompts", 1)
                seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random)", elem_id="beautifulprompt_seed")
            with gr.Column(scale=2):
                results = gr.Textbox(label="Prompts (one per line)", lines=8, interactive=False,
                                     elem_id="beautifulprompt_results")
                selected = gr.Radio([], label="Prompt to send", elem_id="beautifulprompt_selected")
                info = gr.Markdown("", elem_id="beautifulprompt_info")
                with gr.Row():
                    to_txt2img = gr.Button("to txt2img", elem_id="beautifulprompt_to_txt2img")
                    to_img2img = gr.Button("to img2img", elem_id="beautifulprompt_to_img2img")

        def run(text: str, model_name: str, temp: float, k: float, p: float, penalty: float, length: float,
                n: float, seed_value: float | None) -> tuple[str, gr.Radio, str]:
            params = ExpandParams(count=int(n), temperature=float(temp), top_k=int(k), top_p=float(p),
                                  repetition_penalty=float(penalty), max_length=int(length),
                                  seed=-1 if seed_value is None else int(seed_value))
            try:
                result = registry.expand(text or "", params, model_name)
            except EaselError as e:
                raise gr.Error(e.message) from e
            first = result.prompts[0] if result.prompts else None
            return ("\n".join(result.prompts), gr.Radio(choices=result.prompts, value=first),
                    f"Model: {result.model} · seed: {result.seed}")

        def refresh_models(current: str | None) -> gr.Dropdown:
            names = registry.names()
            return gr.Dropdown(choices=names, value=current if current in names else registry.default_name())

        inputs = [prompt, model, temperature, top_k, top_p, repetition_penalty, max_length, count, seed]
        expand.click(run, inputs=inputs, outputs=[results, selected, info], api_visibility="private")
        refresh.click(refresh_models, inputs=[model], outputs=[model], api_visibility="private")
        to_txt2img.click(None, inputs=[selected, results], outputs=None, js=send_js("txt2img"))
        to_img2img.click(None, inputs=[selected, results], outputs=None, js=send_js("img2img"))
    return tab
